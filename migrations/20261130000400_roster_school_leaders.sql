-- Who may send a school's emergency SMS from an event (issue 16, item 3): the
-- school's principal on that date, a deputy named in the roster, or a school
-- owner (skoleeier) of its municipality. All three come from the roster.

-- The principals of a school over time, written when a school upsert names a new
-- principal (`principal_since`, else the event's day). `valid_from` NULL: since
-- before dokflyt knew; `valid_until` (exclusive) NULL: still the principal.
CREATE TABLE roster_principal_history (
    id          bigserial PRIMARY KEY,
    school_id   text NOT NULL,
    staff_id    text NOT NULL,
    valid_from  date,
    valid_until date,
    CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_from <= valid_until)
);
CREATE INDEX roster_principal_history_school ON roster_principal_history (school_id, staff_id);
CREATE UNIQUE INDEX roster_principal_history_open ON roster_principal_history (school_id)
    WHERE valid_until IS NULL;

-- The principals the roster already names have been in office since before now.
INSERT INTO roster_principal_history (school_id, staff_id, valid_from, valid_until)
SELECT school_id, principal_staff_id, NULL, NULL
  FROM roster_schools WHERE principal_staff_id IS NOT NULL AND NOT deleted;

-- The deputies a school upsert names (the whole list, replaced with every applied
-- school change). Both days inclusive; NULL is open.
CREATE TABLE roster_school_deputies (
    school_id  text NOT NULL,
    staff_id   text NOT NULL,
    valid_from date,
    valid_until date,
    PRIMARY KEY (school_id, staff_id)
);

-- The municipalities a staff member acts for as school owner (replaced with every
-- applied staff change, removed with the staff member).
CREATE TABLE roster_school_owners (
    staff_id            text NOT NULL REFERENCES roster_staff (staff_id) ON DELETE CASCADE,
    municipality_number text NOT NULL CHECK (municipality_number ~ '^[0-9]{4}$'),
    PRIMARY KEY (staff_id, municipality_number)
);
CREATE INDEX roster_school_owners_municipality ON roster_school_owners (municipality_number);
