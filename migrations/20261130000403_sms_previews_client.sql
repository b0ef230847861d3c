-- The API client a preview was made through (issue 16, item 2): its send must come
-- through the same client; NULL for a dashboard preview (sent by the same person).
ALTER TABLE sms_previews ADD COLUMN client_id uuid;
