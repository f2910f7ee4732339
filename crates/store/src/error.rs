//! Errors of the store layer.

use natsapi_core::TxError;

/// A store failure. Transports report it as a 500 (or 503 when the store is closed or
/// overloaded).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operation failed inside its transaction; its writes were rolled back.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The transaction could not be committed; nothing in it was acknowledged.
    #[error("store commit failed: {0}")]
    Commit(String),
    /// A transaction could not be started (the database is locked by another process for too
    /// long, or failing); the operation did not run.
    #[error("cannot start a store transaction: {0}")]
    Begin(String),
    /// The store was opened with an invalid configuration or could not be opened.
    #[error("cannot open store: {0}")]
    Open(String),
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
