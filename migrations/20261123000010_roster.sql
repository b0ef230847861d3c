-- The roster (issue «Emergency SMS»): schools, pupils, guardians and their links
-- to pupils, staff and their schools, as the school system publishes them.
--
-- Every entity row carries the producer's `version` of its last applied change;
-- a change is applied only when its version is higher, so out-of-order delivery
-- never lets an older change win. A deletion is a tombstone (`deleted = true`
-- with its version), so an older upsert arriving after it cannot resurrect the
-- row. Contact data (mobile, email, digital mailbox) is used for recipients
-- (emergency SMS, letters) and the reachability report; nothing here is logged.

CREATE TABLE roster_schools (
    school_id           text PRIMARY KEY,
    name                text,
    -- Four-digit kommunenummer: the skoleeier's scope and the cost ledger's owner.
    municipality_number text,
    org_number          text,
    -- The principal's staff id (roster_staff), when known.
    principal_staff_id  text,
    version             bigint      NOT NULL,
    deleted             boolean     NOT NULL DEFAULT false,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE roster_pupils (
    pupil_id          text PRIMARY KEY,
    school_id         text,
    name              text,
    class             text,
    -- 1–10 (grunnskole), 0 for pre-school.
    grade_level       smallint,
    birth_date        date,
    mobile            text,
    email             text,
    digital_mail      boolean     NOT NULL DEFAULT false,
    protected_address boolean     NOT NULL DEFAULT false,
    version           bigint      NOT NULL,
    deleted           boolean     NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX roster_pupils_school ON roster_pupils (school_id, grade_level) WHERE NOT deleted;

CREATE TABLE roster_guardians (
    guardian_id       text PRIMARY KEY,
    name              text,
    mobile            text,
    email             text,
    digital_mail      boolean     NOT NULL DEFAULT false,
    protected_address boolean     NOT NULL DEFAULT false,
    version           bigint      NOT NULL,
    deleted           boolean     NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Replaced as a whole with every applied guardian change (the event carries the full list).
CREATE TABLE roster_guardian_links (
    guardian_id             text    NOT NULL REFERENCES roster_guardians (guardian_id) ON DELETE CASCADE,
    pupil_id                text    NOT NULL,
    parental_responsibility boolean NOT NULL,
    PRIMARY KEY (guardian_id, pupil_id)
);
CREATE INDEX roster_guardian_links_pupil ON roster_guardian_links (pupil_id);

CREATE TABLE roster_staff (
    staff_id     text PRIMARY KEY,
    name         text,
    mobile       text,
    email        text,
    digital_mail boolean     NOT NULL DEFAULT false,
    version      bigint      NOT NULL,
    deleted      boolean     NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Replaced as a whole with every applied staff change.
CREATE TABLE roster_staff_schools (
    staff_id  text NOT NULL REFERENCES roster_staff (staff_id) ON DELETE CASCADE,
    school_id text NOT NULL,
    -- The staff member's role at that school (DOMAIN.md §6 words, e.g. rektor, laerer).
    role      text NOT NULL,
    PRIMARY KEY (staff_id, school_id)
);
CREATE INDEX roster_staff_schools_school ON roster_staff_schools (school_id);

-- Roster events applied (or found stale), for idempotent redelivery and tracing.
CREATE TABLE roster_events (
    event_id    uuid PRIMARY KEY,
    entity      text        NOT NULL,
    entity_id   text        NOT NULL,
    version     bigint      NOT NULL,
    -- 'applied' or 'stale' (an equal or newer version was already applied).
    outcome     text        NOT NULL CHECK (outcome IN ('applied', 'stale')),
    received_at timestamptz NOT NULL DEFAULT now()
);
