//! Errors of the store layer: one kind per way a store can fail, each with the backend's error as
//! its source. Messages name the failure and repeat the source's text, so a reply that carries only
//! the message (a 500 to a client) still says what the database said.

use std::sync::Arc;

use natsapi_core::TxError;

/// A backend's own error (a SQLite or PostgreSQL error, an I/O error), shareable because one
/// failed commit is the answer of every operation in its group.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Wraps a backend error as a [`Cause`].
pub fn cause(e: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Arc::new(e)
}

/// A store failure. Transports report it as a 500 (or 503 when the store is closed or
/// overloaded).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operation failed inside its transaction; its writes were rolled back.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The transaction could not be committed; nothing in it was acknowledged.
    #[error("store commit failed: {0}")]
    Commit(#[source] Cause),
    /// A transaction could not be started (the database is locked by another process for too
    /// long, unreachable or failing); the operation did not run.
    #[error("cannot start a store transaction: {0}")]
    Begin(#[source] Cause),
    /// The database could not be opened or connected to: `what` names it.
    #[error("cannot open store {what}: {source}")]
    Open {
        /// The database (a path, or a PostgreSQL address without its password).
        what: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// The store's settings are invalid.
    #[error("invalid store settings: {0}")]
    Config(String),
    /// A schema migration failed; the database keeps the migrations before it.
    #[error("store migration {migration} failed: {source}")]
    Migration {
        /// The migration's name.
        migration: &'static str,
        /// Why.
        #[source]
        source: Cause,
    },
    /// The database's schema is newer than this build knows.
    #[error(
        "the database has schema version {found}, newer than this natsapi knows ({known}); \
         upgrade natsapi"
    )]
    SchemaTooNew {
        /// The version the database has.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The operation kept conflicting with concurrent transactions (another writer on the same
    /// rows) and was given up after `attempts` tries; nothing of it was written.
    #[error("the operation conflicted with concurrent writes {attempts} times; retry shortly")]
    Conflict {
        /// How many times it ran.
        attempts: usize,
    },
    /// The operation panicked (a bug); its writes were rolled back and the store goes on.
    #[error("operation failed unexpectedly: {0}")]
    Panicked(String),
    /// The writer has `queued` jobs waiting already (its limit): the operation did not run; try
    /// again shortly.
    #[error("the store is overloaded ({queued} writes are waiting); retry shortly")]
    Overloaded {
        /// The limit of waiting writes that was reached.
        queued: usize,
    },
    /// The store has shut down.
    #[error("the store is closed")]
    Closed,
}

/// A failure with only a message to tell (a transaction the database ended by itself).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

impl StoreError {
    /// Whether the failure is temporary and the caller should retry later (a 503 rather than a
    /// 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Closed
                | StoreError::Overloaded { .. }
                | StoreError::Conflict { .. }
                | StoreError::Begin(_)
        )
    }
}
