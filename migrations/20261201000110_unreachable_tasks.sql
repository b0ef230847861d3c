-- Nobody silently unreachable: a task for the school when no channel can reach a
-- guardian with a document (reserved or protected address with nothing left, no
-- address, held for the contact register, SvarUt IKKE_LEVERT). One task per
-- (document, guardian). The guardian is kept by the school system's person id
-- (for the one-task rule) and by initials (what the dashboard shows); no name,
-- national id or address is stored here.
CREATE TABLE unreachable_tasks (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES documents (event_id),
    recipient_id text NOT NULL,
    school_id text NOT NULL,
    document_type text NOT NULL,
    initials text NOT NULL,
    delivery_id bigint REFERENCES deliveries (id),
    channel text NOT NULL,
    reason text NOT NULL,
    reason_nb text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by text,
    UNIQUE (event_id, recipient_id)
);
CREATE INDEX unreachable_tasks_open ON unreachable_tasks (school_id, created_at)
    WHERE resolved_at IS NULL;
