-- The pipeline's durable state. One row per event ever accepted; everything an
-- event causes is written in the same transaction as its `events` row, so the
-- `events` primary key is the idempotency check for redeliveries.

CREATE TYPE archive_status AS ENUM ('klar', 'arkivert', 'feilet');

-- Every accepted document event, verbatim (needed to re-produce a document).
CREATE TABLE events (
    event_id      uuid PRIMARY KEY,
    document_type text        NOT NULL,
    school_id     text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    -- SHA-256 of the canonical payload: a reused event_id with other content is refused.
    payload_sha256 text       NOT NULL,
    payload       jsonb       NOT NULL
);

-- The routed (and, where needed, rendered) document of an event.
CREATE TABLE documents (
    event_id        uuid PRIMARY KEY REFERENCES events (event_id),
    document_type   text        NOT NULL,
    school_id       text        NOT NULL,
    title           text        NOT NULL,
    rule_id         text        NOT NULL,
    rules_version   text        NOT NULL,
    channel         text        NOT NULL,
    archive_policy  text        NOT NULL,
    archived        boolean     NOT NULL,
    folder          text,
    access          text        NOT NULL,
    legal_basis     text,
    journal_post_type text      NOT NULL,
    journal_status  text        NOT NULL,
    -- The whole decision as `dokflyt rules explain` prints it.
    decision        jsonb       NOT NULL,
    pdf             bytea,
    pdf_sha256      text,
    pdf_pages       integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((pdf IS NULL) = (pdf_sha256 IS NULL))
);
CREATE INDEX documents_school_type ON documents (school_id, document_type);
-- PDFs are already compressed: store them out of line without another compression pass.
ALTER TABLE documents ALTER COLUMN pdf SET STORAGE EXTERNAL;

-- What is to be delivered to whom; later issues send these (status moves on from 'planned').
CREATE TABLE deliveries (
    id            bigserial PRIMARY KEY,
    event_id      uuid        NOT NULL REFERENCES documents (event_id),
    recipient_id  text        NOT NULL,
    channel       text        NOT NULL,
    status        text        NOT NULL DEFAULT 'planned',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, recipient_id, channel)
);
CREATE INDEX deliveries_status ON deliveries (status);

-- The archive queue: one row per document to transfer, by status klar / arkivert / feilet.
CREATE TABLE archive_queue (
    event_id      uuid PRIMARY KEY REFERENCES documents (event_id),
    status        archive_status NOT NULL DEFAULT 'klar',
    folder        text        NOT NULL,
    school_id     text        NOT NULL,
    document_type text        NOT NULL,
    queued_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX archive_queue_status ON archive_queue (status, queued_at, event_id);

-- Every message dead-lettered, with its reason (the message itself is in the dead-letter queue).
CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    event_id      uuid,
    reason_code   text        NOT NULL,
    reason        text        NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_code ON dead_letters (reason_code);
