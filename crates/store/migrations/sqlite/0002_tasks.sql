-- Callbacks and subscriptions: they wait on a promise and become tasks when it completes.
CREATE TABLE callbacks (
    sort_id         INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    promise_id      TEXT    NOT NULL,
    root_promise_id TEXT    NOT NULL,
    recv            TEXT    NOT NULL,
    mesg            TEXT    NOT NULL,
    timeout         INTEGER NOT NULL,
    created_on      INTEGER NOT NULL
);

CREATE INDEX callbacks_by_promise ON callbacks (promise_id, sort_id);

-- Tasks (state bits: INIT 1, ENQUEUED 2, CLAIMED 4, COMPLETED 8, TIMEDOUT 16).
CREATE TABLE tasks (
    sort_id         INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    process_id      TEXT,
    state           INTEGER NOT NULL DEFAULT 1,
    root_promise_id TEXT    NOT NULL,
    recv            TEXT    NOT NULL,
    mesg            TEXT    NOT NULL,
    timeout         INTEGER NOT NULL,
    counter         INTEGER NOT NULL DEFAULT 1,
    attempt         INTEGER NOT NULL DEFAULT 0,
    ttl             INTEGER NOT NULL DEFAULT 0,
    expires_at      INTEGER NOT NULL DEFAULT 0,
    created_on      INTEGER NOT NULL,
    completed_on    INTEGER
);

-- Live tasks of an execution (completing its root promise; one active task per root).
CREATE INDEX tasks_live_by_root ON tasks (root_promise_id, state) WHERE state IN (1, 2, 4);
-- Tasks waiting for delivery, by when they are due.
CREATE INDEX tasks_waiting ON tasks (expires_at) WHERE state = 1;
-- Delivered or claimed tasks, for their lease and deadline.
CREATE INDEX tasks_leased ON tasks (expires_at) WHERE state IN (2, 4);
-- Claims by worker process (heartbeats).
CREATE INDEX tasks_claimed_by_process ON tasks (process_id) WHERE state = 4;
