-- Grants (issue 24, item 1): roles given in the dashboard, each for one school,
-- ending by default on 31 July of the school year they were given in.
--
-- `grantee` is the staff member's id in the roster (the school system's id, the
-- same id `roster_staff.staff_id` holds); a dashboard session carries it from the
-- identity provider's staff-id claim (`dashboard_sessions.staff_id`). A grant is in
-- force while it is not revoked and `expires_on` (an Oslo date, inclusive) has not
-- passed. `expiry_recorded_at` marks that the audit log has the grant's expiry
-- (written once, the first time dokflyt sees it expired). A revoked grant stays
-- as a row (who, when, why), so the history is kept; names are never stored.
CREATE TABLE access_grants (
    id                  bigserial   PRIMARY KEY,
    grantee             text        NOT NULL CHECK (grantee <> ''),
    role                text        NOT NULL,
    school_id           text        NOT NULL,
    municipality_number text        CHECK (municipality_number ~ '^[0-9]{4}$'),
    granted_by          text        NOT NULL,
    granted_by_role     text        NOT NULL,
    granted_at          timestamptz NOT NULL,
    expires_on          date        NOT NULL,
    renewed_at          timestamptz,
    renewed_by          text,
    expiry_recorded_at  timestamptz,
    revoked_at          timestamptz,
    revoked_by          text,
    revoke_reason       text
);
-- One live grant per person, role and school (a new grant of the same renews it).
CREATE UNIQUE INDEX access_grants_live ON access_grants (grantee, role, school_id)
    WHERE revoked_at IS NULL;
CREATE INDEX access_grants_school ON access_grants (school_id) WHERE revoked_at IS NULL;

-- The staff id of the person behind a dashboard session (from the identity
-- provider's staff-id claim, when it has one): grants are looked up by it, and a
-- leaver's sessions are ended by it.
ALTER TABLE dashboard_sessions ADD COLUMN staff_id text;
CREATE INDEX dashboard_sessions_staff ON dashboard_sessions (staff_id) WHERE staff_id IS NOT NULL;
