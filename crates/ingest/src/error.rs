//! The ingest layer's errors.

use natsapi_core::TxError;
use natsapi_store::StoreError;

/// What can go wrong in the ingest gateway, the worker or their database.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store holding the ingest tables could not be opened, or did not run an operation
    /// (closed, overloaded, a failed commit).
    #[error("ingest database: {0}")]
    Store(#[from] StoreError),
    /// A statement on the ingest tables failed inside its transaction.
    #[error("ingest database: {0}")]
    Sql(#[from] TxError),
    /// A JetStream stream or consumer could not be created, or exists with another configuration.
    #[error("jetstream: {0}")]
    Stream(String),
    /// The node key kept in the store cannot be read, or no key could be made.
    #[error("node key in rpc_node_key: {0}")]
    NodeKey(#[source] natsapi_rpc::KeyError),
    /// The entity mapping is invalid or does not match an existing table.
    #[error("entity mapping: {0}")]
    Mapping(String),
}
