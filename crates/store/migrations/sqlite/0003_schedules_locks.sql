-- Schedules (spec §10). sort_id orders search results newest first; AUTOINCREMENT, because
-- schedules are deleted and a reused sort id would break a cursor's "below this sort id".
CREATE TABLE schedules (
    sort_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                    TEXT    NOT NULL UNIQUE,
    description           TEXT    NOT NULL DEFAULT '',
    cron                  TEXT    NOT NULL,
    tags                  TEXT,
    promise_id            TEXT    NOT NULL,
    promise_timeout       INTEGER NOT NULL,
    promise_param_headers TEXT,
    promise_param_data    BLOB,
    promise_tags          TEXT,
    last_run_time         INTEGER,
    next_run_time         INTEGER NOT NULL,
    idempotency_key       TEXT,
    created_on            INTEGER NOT NULL
);

-- The schedule timer reads schedules in due order.
CREATE INDEX schedules_by_next_run_time ON schedules (next_run_time, sort_id);

-- Locks (spec §11): at most one per resource.
CREATE TABLE locks (
    resource_id  TEXT    NOT NULL PRIMARY KEY,
    execution_id TEXT    NOT NULL,
    process_id   TEXT    NOT NULL,
    ttl          INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- Heartbeats go by process; the expiry timer reads locks in expiry order.
CREATE INDEX locks_by_process ON locks (process_id);
CREATE INDEX locks_by_expiry ON locks (expires_at);
