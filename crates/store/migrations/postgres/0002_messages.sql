-- Ingested messages (the ingest gateway and worker): one row per message, its status from the
-- moment the gateway takes it, and its body (the text as sent) once a worker has applied it.
-- Times are Unix epoch milliseconds. The fingerprint (SHA-256 of entity type and canonical body,
-- hex) is kept for messages sent with an Idempotency-Key: the same key with another message is
-- refused. Message ids compare byte by byte ("C"), as on SQLite.
CREATE TABLE messages (
    message_id   TEXT COLLATE "C" PRIMARY KEY,
    entity_type  TEXT    NOT NULL,
    source       TEXT,
    status       TEXT    NOT NULL
        CHECK (status IN ('accepted', 'processing', 'processed', 'failed', 'dead_lettered')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    body         TEXT,
    received_at  BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    processed_at BIGINT,
    stream_seq   BIGINT,
    fingerprint  TEXT
);
