-- Ingested messages (the ingest gateway and worker): one row per message, its status from the
-- moment the gateway takes it, and its body once a worker has applied it. Times are Unix epoch
-- milliseconds. The fingerprint (SHA-256 of entity type and canonical body, hex) is kept for
-- messages sent with an Idempotency-Key: the same key with another message is refused.
--
-- An ingest database of an earlier natsapi (versioned in `natsapi_ingest_schema`) has this
-- table already: the migration code adopts it instead of running this file (sqlite/legacy.rs).
CREATE TABLE messages (
    message_id   TEXT PRIMARY KEY,
    entity_type  TEXT NOT NULL,
    source       TEXT,
    status       TEXT NOT NULL
        CHECK (status IN ('accepted', 'processing', 'processed', 'failed', 'dead_lettered')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    body         TEXT,
    received_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    processed_at INTEGER,
    stream_seq   INTEGER,
    fingerprint  TEXT
) WITHOUT ROWID;
