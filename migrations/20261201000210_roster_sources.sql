-- Roster sources (issue 24, item 2): every roster entry records who owns it.
-- 'sync': the school system (roster events, `roster import`); 'manual': entered by
-- hand (`dokflyt roster manual`) for people not in the register (principals,
-- special-needs staff, people with foreign ids). A manual change to a synced entry
-- is refused; the sync never deletes a manual entry (a sync upsert of the same id
-- takes it over). Existing rows all came from the sync.
ALTER TABLE roster_pupils ADD COLUMN source text NOT NULL DEFAULT 'sync'
    CHECK (source IN ('sync', 'manual'));
ALTER TABLE roster_guardians ADD COLUMN source text NOT NULL DEFAULT 'sync'
    CHECK (source IN ('sync', 'manual'));
ALTER TABLE roster_staff ADD COLUMN source text NOT NULL DEFAULT 'sync'
    CHECK (source IN ('sync', 'manual'));
ALTER TABLE roster_guardian_links ADD COLUMN source text NOT NULL DEFAULT 'sync'
    CHECK (source IN ('sync', 'manual'));
ALTER TABLE roster_staff_schools ADD COLUMN source text NOT NULL DEFAULT 'sync'
    CHECK (source IN ('sync', 'manual'));
