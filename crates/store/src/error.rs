//! Errors of the store layer.

use natsapi_core::TxError;

/// A store failure. Transports report it as a 500 (or 503 when the store is closed).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operation failed inside its transaction; its writes were rolled back.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The transaction could not be committed; nothing in it was acknowledged.
    #[error("store commit failed: {0}")]
    Commit(String),
    /// The store was opened with an invalid configuration or could not be opened.
    #[error("cannot open store: {0}")]
    Open(String),
    /// The operation panicked (a bug); its writes were rolled back and the store goes on.
    #[error("operation failed unexpectedly: {0}")]
    Panicked(String),
    /// The store has shut down, or could not start a transaction for the operation.
    #[error("the store could not run the operation (closed or failing)")]
    Closed,
}
