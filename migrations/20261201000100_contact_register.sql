-- The contact register (KRR) at send time: the guardian's preferred language
-- (`spraak`: nb, nn, en, se) as the register gave it, for the letter's written
-- standard, and when the register was last asked for this delivery.
-- No contact details are stored: they are read again (or from a short in-memory
-- cache) at each send.
ALTER TABLE deliveries
    ADD COLUMN preferred_language text,
    ADD COLUMN register_checked_at timestamptz;
