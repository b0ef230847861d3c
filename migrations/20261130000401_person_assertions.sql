-- Person assertions (issue 16, item 2): every `jti` used, per issuer, until the
-- assertion expires, so an assertion is accepted once. Rows past their expiry
-- (plus the clock-skew leeway) are purged as new ones arrive.
CREATE TABLE person_assertion_jtis (
    issuer     text        NOT NULL,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX person_assertion_jtis_expiry ON person_assertion_jtis (expires_at);
