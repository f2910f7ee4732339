-- Durable promises (Resonate v0.7 model). sort_id orders search results newest first; promises
-- are never deleted, so the rowid grows monotonically without AUTOINCREMENT's extra table.
CREATE TABLE promises (
    sort_id                      INTEGER PRIMARY KEY,
    id                           TEXT    NOT NULL UNIQUE,
    state                        INTEGER NOT NULL DEFAULT 1,
    param_headers                TEXT,
    param_data                   BLOB,
    value_headers                TEXT,
    value_data                   BLOB,
    timeout                      INTEGER NOT NULL,
    idempotency_key_for_create   TEXT,
    idempotency_key_for_complete TEXT,
    tags                         TEXT,
    created_on                   INTEGER NOT NULL,
    completed_on                 INTEGER
);

-- The timeout timer reads pending promises in deadline order.
CREATE INDEX promises_pending_by_timeout ON promises (timeout) WHERE state = 1;
