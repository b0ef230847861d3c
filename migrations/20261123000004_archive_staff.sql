-- Archive staff actions, folders, principals and the transfer schedule's log
-- (issue «Archive transfer»).

-- «Fjern fra feilet-listen»: the row stays (history), but leaves the failed list.
ALTER TABLE archive_queue
    ADD COLUMN dismissed_at     timestamptz,
    ADD COLUMN dismissed_by     text,
    ADD COLUMN dismissed_reason text,
    -- How many times staff re-produced the document (re-rendered from its event).
    ADD COLUMN reproduced       integer NOT NULL DEFAULT 0;

-- The staff list pages by (queued_at, event_id) within a status; keyset-indexed.
CREATE INDEX archive_queue_list ON archive_queue (status, queued_at DESC, event_id DESC);
CREATE INDEX archive_queue_school_list ON archive_queue (school_id, status, queued_at DESC, event_id DESC);

-- The principal of a school from a date: the case owner (saksansvarlig) of the
-- school's folders from that date. History is kept; the newest valid_from ≤ a date wins.
CREATE TABLE school_principals (
    school_id   text        NOT NULL,
    valid_from  date        NOT NULL,
    initials    text        NOT NULL CHECK (initials ~ '^[A-ZÆØÅa-zæøå]{2,10}$'),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by text        NOT NULL,
    PRIMARY KEY (school_id, valid_from)
);

-- School folders (skolemappe): one per school per school year, created in the
-- archive as a case (saksmappe); its case number is the archive's answer.
CREATE TABLE school_folders (
    school_id        text        NOT NULL,
    -- '2026/2027'
    school_year      text        NOT NULL CHECK (school_year ~ '^[0-9]{4}/[0-9]{4}$'),
    school_name      text        NOT NULL,
    folder_key       text        NOT NULL UNIQUE,
    title            text        NOT NULL,
    case_owner       text,
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    case_year        integer,
    case_sequence    integer,
    archive_system_id text,
    receipt          text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    PRIMARY KEY (school_id, school_year)
);

-- Every transfer run: scheduled window, run-now, or catch-up after downtime.
CREATE TABLE transfer_runs (
    run_id       uuid        PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('window', 'run_now', 'catch_up')),
    -- The window's start (Europe/Oslo wall time stored as an instant) for kind window/catch_up.
    window_start timestamptz,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    arkivert     integer     NOT NULL DEFAULT 0,
    feilet       integer     NOT NULL DEFAULT 0,
    stopped_for_outage boolean NOT NULL DEFAULT false
);
CREATE INDEX transfer_runs_window ON transfer_runs (window_start);
