-- Dashboard (issue «The archive staff's dashboard»): sign-ins and sessions.
--
-- A session is identified by a random 256-bit token held only in the browser's
-- cookie; the database keeps its SHA-256, so a copy of this table cannot be used
-- to sign in. `csrf` is the session's synchronizer token, required on every form.
-- `search_text` keeps the archive log's free-text filter on the server, so a
-- pupil's name typed into the search box never appears in a URL.
CREATE TABLE dashboard_sessions (
    token_sha256  bytea       PRIMARY KEY,
    user_id       text        NOT NULL,
    display_name  text        NOT NULL,
    role          text        NOT NULL,
    schools       text[]      NOT NULL DEFAULT '{}',
    csrf          text        NOT NULL,
    search_text   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- A sign-in under way: what the callback needs to finish the authorization code
-- flow (PKCE verifier, nonce) found by the `state` parameter, which the browser
-- also carries in a short-lived cookie (so a callback started elsewhere is refused).
CREATE TABLE dashboard_logins (
    state         text        PRIMARY KEY,
    nonce         text        NOT NULL,
    pkce_verifier text        NOT NULL,
    return_to     text        NOT NULL DEFAULT '/dashboard',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboard_logins_created ON dashboard_logins (created_at);

-- The audit log's filter by actor.
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, at DESC);
