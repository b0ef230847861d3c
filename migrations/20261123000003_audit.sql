-- The audit log (revisjonslogg): who did what, when, to what, and whether it was
-- allowed. Shared by the staff actions on the archive log, emergency SMS
-- authorization and the dashboard. Append-only: nothing updates or deletes rows.

CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    -- The signed-in user's id as the identity provider or the school system gave it
    -- (never a national id), or `cli:<os user>` for commands run on the server.
    actor       text        NOT NULL,
    role        text        NOT NULL,
    -- The school the action concerned, when there is one.
    school_id   text,
    -- A stable verb, e.g. `archive.retry`, `archive.remove_failed`, `sms.send`.
    action      text        NOT NULL,
    -- What the action was on (an event id, a school id, an SMS message id).
    target      text,
    -- 'granted' or 'refused' (authorization decisions are logged either way).
    outcome     text        NOT NULL CHECK (outcome IN ('granted', 'refused')),
    -- The written reason the user gave, or why access was refused.
    reason      text,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_school ON audit_log (school_id, at DESC);
CREATE INDEX audit_log_action ON audit_log (action, at DESC);
