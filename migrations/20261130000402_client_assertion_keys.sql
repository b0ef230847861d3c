-- The public key (PEM) a registered client signs person assertions with
-- (`dokflyt clients set-key`); NULL: the client can only pass on ID tokens from
-- the identity provider.
ALTER TABLE api_clients ADD COLUMN assertion_key_pem text;
