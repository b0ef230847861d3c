-- Dashboard sessions remember how strongly the person signed in (issue 22), go
-- idle (issue 16), and can hold one confirmation page while the person steps up.
--
-- `assurance_level` is the level the ID token proved (`acr`/`amr` mapped by
-- `[assurance]`); `assurance_at` is when (`auth_time`, else `iat`). The level is
-- never trusted past its configured max age: the dashboard computes the level
-- in force from these two columns on every request.
-- `idle_secs`: a session not used for this long is signed out.
-- `pending`: the confirmation page a person was on when an action asked for a
-- stronger sign-in (its form values kept here, never in a URL).
ALTER TABLE dashboard_sessions
    ADD COLUMN assurance_level text        NOT NULL DEFAULT 'low'
        CHECK (assurance_level IN ('low', 'substantial', 'high')),
    ADD COLUMN assurance_at    timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN idle_secs       integer     NOT NULL DEFAULT 1800 CHECK (idle_secs > 0),
    ADD COLUMN pending         jsonb;

-- A step-up sign-in under way: the level it asked the identity provider for.
ALTER TABLE dashboard_logins
    ADD COLUMN wanted_level text CHECK (wanted_level IN ('low', 'substantial', 'high'));
