-- The municipality a dashboard user acts in (from the identity provider's claim or
-- the configured default), so kommuneadmin and skoleeier sessions see only their
-- own municipality's schools (issue 16, "skoleeier is scoped to its own
-- municipality everywhere").
ALTER TABLE dashboard_sessions ADD COLUMN municipality_number text
    CHECK (municipality_number ~ '^[0-9]{4}$');
