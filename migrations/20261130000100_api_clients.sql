-- Registered API clients (issue 16): every caller of `/api/*` is one of these.
--
-- A client is an integration (the school system, a municipal portal) bound to one
-- municipality, to all of its schools or a list of them, and to a set of scopes
-- (`documents:read`, `archive:read`, `archive:act`, `sms:request`, `contacts:read`,
-- `status:read`, `admin`). Whatever user, role or school a request claims is
-- bounded by its client (src/http/auth.rs).
--
-- Secrets are shown once by `dokflyt clients add|rotate` and stored only as their
-- SHA-256. A rotated-out secret keeps working until `expires_at` (the configured
-- overlap); a revoked client is refused from its next request on.

CREATE TABLE api_clients (
    id                  uuid        PRIMARY KEY,
    name                text        NOT NULL UNIQUE,
    -- Four-digit kommunenummer.
    municipality_number text        NOT NULL CHECK (municipality_number ~ '^[0-9]{4}$'),
    -- All schools of the municipality, or exactly `schools`.
    all_schools         boolean     NOT NULL,
    schools             text[]      NOT NULL DEFAULT '{}',
    scopes              text[]      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz,
    CHECK (all_schools OR cardinality(schools) > 0),
    CHECK (NOT all_schools OR cardinality(schools) = 0)
);

CREATE TABLE api_client_secrets (
    -- SHA-256 of the secret (256 random bits, so a fast hash suffices).
    secret_sha256 bytea       PRIMARY KEY,
    client_id     uuid        NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- NULL for the current secret; set by a rotation to the end of the overlap.
    expires_at    timestamptz
);
CREATE INDEX api_client_secrets_client ON api_client_secrets (client_id);
