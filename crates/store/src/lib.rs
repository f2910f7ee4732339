//! Store backends for natsapi.
//!
//! A [`Store`] runs [`natsapi_core::Operation`]s atomically: the operation reads and writes through
//! a backend's [`natsapi_core::Tx`], and its reply is released only once its writes are committed.
//! Backends: [`memory`] (for `natsapi dev` and tests), [`sqlite`] (one writer thread, WAL, group
//! commit, reader threads) and [`postgres`] (several writer threads, group commit, row locks,
//! reader threads). The three are laid out alike: a module per backend with its connection
//! opener, schema migrations, writer and one `tx` file per resource family; `group` (the group
//! commit both database backends use), `jobs` (the fair-share queue their reader and writer
//! threads take from), `delivery` and `queue` are shared.
//!
//! # The store contract
//!
//! What every backend guarantees, and what an operation may assume. The conformance suite
//! (`tests/conformance`) checks it on every backend.
//!
//! **Atomic and durable.** An operation's writes commit together or not at all, and its reply is
//! released only after the commit is durable (SQLite: `synchronous=full` by default; PostgreSQL:
//! `synchronous_commit = on`, set on every connection). An operation that fails, or panics,
//! leaves nothing behind and does not fail the operations committed with it.
//!
//! **Replayable.** A backend may run an operation more than once: after rolling back a group
//! because a neighbour failed, or after a conflict with another transaction. Only the last run's
//! writes and reply count. Operations are therefore plain data with no effect outside their `Tx`
//! (no I/O, no clock but the `now` they are given). A replay runs at the time of the first run; a
//! rerun after a conflict at a new time.
//!
//! **Read then write.** On the write path, a row an operation read by key cannot change before the
//! operation commits: SQLite has one writer; PostgreSQL takes the row's lock (`SELECT … FOR
//! UPDATE`), and a read of the live tasks of an execution first locks the execution's root promise
//! (so two writers never both find none and both add one). A row found absent is not locked, so
//! inserts are insert-if-absent and the operation checks the answer (`insert_promise` returns
//! whether it inserted), or a plain insert whose unique-key violation the backend treats as a
//! conflict. Operations take their locks in the order they read, so two of them can wait on each
//! other (a task's claim locks the task, then its promise; a completion the promise, then its
//! tasks): the backend's watchdog sees the cycle within milliseconds and cancels one member
//! (PostgreSQL itself would after its `deadlock_timeout`, 1 s by default), and the losing group
//! runs again.
//!
//! **Claims.** A scan whose rows the operation will change (tasks to deliver or whose lease
//! expired, schedules to fire, expired locks) returns only rows no other transaction holds
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL). Due promise timeouts wait for the rows instead
//! (`FOR UPDATE`), since a search times them out too and must see them settled. Two writers, in one process or in
//! many, never process the same row; a scan may return fewer rows than are due while another
//! writer holds some, and the timer loop simply runs again. This is what lets several natsapi
//! instances share one PostgreSQL database.
//!
//! **Isolation.** SQLite: serializable (one writer; reads see the last commit). PostgreSQL: read
//! committed plus the row locks above. Reads outside the writer (`Operation::read_attempt`) see
//! committed state only, and cannot write: a write there fails with `TxError::needs_write` and the
//! operation is run again on the write path. They run on the backend's reader threads, which take
//! the waiting reads in batches: SQLite reads a batch in one read transaction (one snapshot, taken
//! once every read of the batch has arrived), PostgreSQL one statement at a time. Either way a read
//! sees every write committed before it was submitted; an operation that needs one state across
//! several statements has no read attempt and runs on the write path. The memory backend reads on
//! the caller's thread.
//!
//! **Conflicts.** A PostgreSQL deadlock, serialization failure, lock timeout or unique-key
//! violation rolls the group back; the other operations are replayed and the conflicting one runs
//! again, up to [`MAX_CONFLICT_ATTEMPTS`] times, after which its caller gets the database's error.
//!
//! **Plain SQL.** Families whose tables this crate does not model (the ingest `messages` table
//! and mapped tables) read and write through [`natsapi_core::SqlTx`], part of the same `Tx`: one
//! portable statement text for SQLite and PostgreSQL, in the same transaction and under the same
//! rules as above. On the read path a statement that writes fails with `TxError::needs_write`.
//!
//! **Back-pressure.** Each backend takes a bounded number of writes at once and refuses more with
//! [`StoreError::Overloaded`] (a 503 with `Retry-After` at the transports).

mod delivery;
pub mod error;
mod group;
pub mod job;
mod jobs;
pub mod memory;
pub mod postgres;
mod queue;
pub mod sqlite;
mod store;

pub use error::StoreError;

/// The tables the store's migrations create (and the old ingest version table it adopts), which
/// other data in the same database (mapped ingest tables) may not use.
pub const TABLES: &[&str] = &[
    "promises",
    "callbacks",
    "tasks",
    "schedules",
    "locks",
    "messages",
    "rpclog",
    "rpc_node_key",
    "track_comments",
    "natsapi_schema_migrations",
    "natsapi_ingest_schema",
];
pub use group::MAX_ATTEMPTS as MAX_CONFLICT_ATTEMPTS;
pub use job::{Backend, BoxJob, Job};
pub use store::{Store, StoreConfig, panic_message};

#[cfg(test)]
mod tests {
    /// Every table a migration creates is in [`super::TABLES`].
    #[test]
    fn every_migrated_table_is_reserved() {
        let migrations = [
            include_str!("../migrations/sqlite/0001_promises.sql"),
            include_str!("../migrations/sqlite/0002_tasks.sql"),
            include_str!("../migrations/sqlite/0003_schedules_locks.sql"),
            include_str!("../migrations/sqlite/0004_messages.sql"),
            include_str!("../migrations/sqlite/0005_rpclog.sql"),
            include_str!("../migrations/postgres/0001_store.sql"),
            include_str!("../migrations/postgres/0002_messages.sql"),
            include_str!("../migrations/postgres/0003_rpclog.sql"),
        ];
        for sql in migrations {
            for part in sql.split("CREATE TABLE ").skip(1) {
                let name: String =
                    part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                assert!(super::TABLES.contains(&name.as_str()), "{name} is not in TABLES");
            }
        }
    }
}
