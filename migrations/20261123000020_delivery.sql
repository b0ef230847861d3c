-- Delivery (issue «Delivery»): the channel workers that send planned deliveries.
--
-- A worker claims `planned` rows of one channel (claimed_by / claimed_until set in
-- one committed statement, FOR UPDATE SKIP LOCKED), calls the provider without a
-- transaction, and records the outcome only while the claim is still its own. Right
-- before a call that could leave the provider unsure (an upload to SvarUt, an SMTP
-- transaction) it commits `in_doubt = true`: a row reclaimed in doubt (crash,
-- timeout) is looked up at the provider before any resend (SvarUt: eksternRef), or
-- held for a human when the provider has no look-up (SMTP).
--
-- deliveries.status: planned → sent → delivered (SvarUt read/printed/delivered), or
-- failed (permanent, with a reason) or held (manual handling, with a reason).

ALTER TABLE deliveries
    ADD COLUMN claimed_by          uuid,
    ADD COLUMN claimed_until       timestamptz,
    ADD COLUMN attempts            integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN in_doubt            boolean     NOT NULL DEFAULT false,
    -- The deterministic key sent to the provider (SvarUt eksternReferanse, Message-ID).
    ADD COLUMN idempotency_key     text,
    -- The provider's id: SvarUt forsendelseId, SMTP Message-ID, in-app message id.
    ADD COLUMN provider_ref        text,
    -- SvarUt's last status verbatim (also statuses dokflyt does not know).
    ADD COLUMN provider_status     text,
    ADD COLUMN provider_status_at  timestamptz,
    ADD COLUMN last_polled_at      timestamptz,
    ADD COLUMN error_class         text,
    -- Norwegian, for the school's staff.
    ADD COLUMN error_explanation   text,
    ADD COLUMN sent_at             timestamptz;

CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at, id) WHERE status = 'planned';
CREATE INDEX deliveries_svarut_poll ON deliveries (last_polled_at NULLS FIRST, id)
    WHERE channel = 'svarut' AND provider_ref IS NOT NULL AND status IN ('sent', 'delivered');

-- Every change of a delivery's status, per recipient, oldest first.
CREATE TABLE delivery_status_history (
    id              bigserial   PRIMARY KEY,
    delivery_id     bigint      NOT NULL REFERENCES deliveries (id),
    status          text        NOT NULL,
    -- The provider's status when it caused the change (SvarUt), verbatim.
    provider_status text,
    error_class     text,
    -- No personal data: classes, provider ids, provider messages.
    detail          text,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_status_history_delivery ON delivery_status_history (delivery_id, id);

-- In-app messages (melding) the school system fetches (GET /api/messages) and is
-- told about (AMQP message.created). One per delivery: the id is derived from it.
CREATE TABLE messages (
    id            uuid        PRIMARY KEY,
    delivery_id   bigint      NOT NULL UNIQUE REFERENCES deliveries (id),
    event_id      uuid        NOT NULL,
    recipient_id  text        NOT NULL,
    school_id     text        NOT NULL,
    -- 'message' (the content) or 'notice' (no content: log in to read it).
    kind          text        NOT NULL CHECK (kind IN ('message', 'notice')),
    subject       text        NOT NULL,
    body          text        NOT NULL,
    -- Whether the document itself may be opened from the message.
    has_document  boolean     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX messages_recipient ON messages (recipient_id, created_at DESC);
