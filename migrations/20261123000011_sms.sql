-- Emergency SMS (beredskapsmelding, DOMAIN.md §5): previews, messages, one row per
-- (message, number), and the cost ledger.
--
-- A message and all its recipient rows are committed before anything is handed to
-- the gateway. A recipient row moves queued → sending (committed, with a claim)
-- → sent (the gateway accepted it) → delivered / failed (delivery report). A row
-- found in `sending` after a crash is looked up at the gateway by its idempotency
-- key before any resend, so a number never gets a message twice.

CREATE TABLE sms_previews (
    token               uuid PRIMARY KEY,
    school_id           text        NOT NULL,
    actor               text        NOT NULL,
    role                text        NOT NULL,
    text                text        NOT NULL,
    reason              text        NOT NULL,
    on_owner_instruction boolean    NOT NULL,
    encoding            text        NOT NULL,
    segments            integer     NOT NULL,
    numbers             integer     NOT NULL,
    price_ore           bigint      NOT NULL,
    cost_ore            bigint      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    used_by             uuid
);

CREATE TABLE sms_messages (
    message_id          uuid PRIMARY KEY,
    school_id           text        NOT NULL,
    -- 'api' (POST .../emergency-sms) or 'event' (an emergency_sms document event).
    source              text        NOT NULL CHECK (source IN ('api', 'event')),
    event_id            uuid UNIQUE REFERENCES documents (event_id),
    preview_token       uuid UNIQUE REFERENCES sms_previews (token),
    requested_by        text        NOT NULL,
    role                text        NOT NULL,
    on_owner_instruction boolean    NOT NULL DEFAULT false,
    reason              text        NOT NULL,
    text                text        NOT NULL,
    encoding            text        NOT NULL,
    segments            integer     NOT NULL,
    numbers             integer     NOT NULL,
    price_ore           bigint      NOT NULL,
    price_valid_from    date        NOT NULL,
    cost_ore            bigint      NOT NULL,
    -- awaiting_approval (over the daily cost cap) → approved (recipients may be sent)
    -- → completed (every recipient sent or failed); refused (never sent, with reason).
    status              text        NOT NULL
        CHECK (status IN ('awaiting_approval', 'approved', 'completed', 'refused')),
    status_reason       text,
    approved_by         text,
    -- Set once the fan-out batches are confirmed by the broker.
    published_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_messages_school ON sms_messages (school_id, created_at);
CREATE INDEX sms_messages_unpublished ON sms_messages (created_at) WHERE status = 'approved' AND published_at IS NULL;

CREATE TABLE sms_recipients (
    id              bigserial PRIMARY KEY,
    message_id      uuid        NOT NULL REFERENCES sms_messages (message_id),
    -- E.164 (+4791234567); one row per number, however many roles it has at the school.
    number          text        NOT NULL,
    -- pupil / guardian / staff, the groups this number stands for.
    groups          text[]      NOT NULL,
    -- Sent to the gateway; derived from message id + number.
    idempotency_key text        NOT NULL UNIQUE,
    status          text        NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed')),
    claimed_until   timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    gateway_message_id text,
    error           text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, number)
);
CREATE INDEX sms_recipients_open ON sms_recipients (message_id) WHERE status IN ('queued', 'sending');
CREATE INDEX sms_recipients_gateway ON sms_recipients (gateway_message_id);

-- What each school's emergency SMS cost (one row per message sent), at the price in
-- force on the day it was approved.
CREATE TABLE sms_cost_ledger (
    id               bigserial PRIMARY KEY,
    school_id        text        NOT NULL,
    message_id       uuid        NOT NULL UNIQUE REFERENCES sms_messages (message_id),
    booked_at        timestamptz NOT NULL DEFAULT now(),
    sms_count        bigint      NOT NULL,
    price_ore        bigint      NOT NULL,
    price_valid_from date        NOT NULL,
    cost_ore         bigint      NOT NULL
);
-- The SMS worker polls for committed emergency_sms documents without a message.
CREATE INDEX documents_sms ON documents (created_at, event_id) WHERE channel = 'sms';

CREATE INDEX sms_cost_ledger_school ON sms_cost_ledger (school_id, booked_at);
