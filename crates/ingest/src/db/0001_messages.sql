-- Every ingested message: its status from the moment the gateway takes it, and its body once a
-- worker has applied it. Times are Unix epoch milliseconds.
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
    stream_seq   INTEGER
) WITHOUT ROWID;
