-- The archive transfer (issue «Archive transfer»): claims, receipts and the attempt log.
--
-- A transfer claims `klar` rows by setting `claimed_by` / `claimed_until` in one
-- committed statement (FOR UPDATE SKIP LOCKED), sends without holding a transaction,
-- then records the outcome only if it still holds the claim. A claim that outlives
-- a crashed worker expires at `claimed_until` and the row is picked up again; the
-- journal post's external key (fagsystem dokflyt, the event id) makes that resend
-- return the existing journal post.

ALTER TABLE archive_queue
    ADD COLUMN claimed_by            uuid,
    ADD COLUMN claimed_until         timestamptz,
    ADD COLUMN attempts              integer NOT NULL DEFAULT 0,
    -- From the archive's journalpostKvittering once arkivert.
    ADD COLUMN journal_year          integer,
    ADD COLUMN journal_sequence      integer,
    ADD COLUMN journal_post_number   integer,
    ADD COLUMN archive_journal_status text,
    ADD COLUMN archive_system_id     text,
    -- True when the archive answered "Eksisterende" (a retry found the journal post).
    ADD COLUMN receipt_existing      boolean,
    -- The archive's last answer, verbatim (receipt or error message).
    ADD COLUMN receipt               text,
    -- When feilet: a stable error class and a Norwegian explanation for the staff.
    ADD COLUMN error_class           text,
    ADD COLUMN error_explanation     text,
    ADD COLUMN archived_at           timestamptz;

CREATE INDEX archive_queue_klar ON archive_queue (queued_at, event_id) WHERE status = 'klar';

-- Every attempt to transfer a document, successful or not.
CREATE TABLE transfer_attempts (
    id            bigserial PRIMARY KEY,
    event_id      uuid        NOT NULL REFERENCES archive_queue (event_id),
    run_id        uuid        NOT NULL,
    attempt       integer     NOT NULL,
    target        text        NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    -- 'arkivert', 'transient' (will be retried or ended as feilet), 'permanent'.
    outcome       text        NOT NULL CHECK (outcome IN ('arkivert', 'transient', 'permanent')),
    error_class   text,
    -- The archive's answer verbatim (or the transport error, without personal data).
    answer        text
);
CREATE INDEX transfer_attempts_event ON transfer_attempts (event_id, id);
