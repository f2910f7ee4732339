-- The fingerprint of a message sent with an Idempotency-Key (SHA-256 of its entity type and
-- canonical body, hex): the same key with another message is refused, not replayed.
ALTER TABLE messages ADD COLUMN fingerprint TEXT;
