//! The ingest layer's errors.

/// What can go wrong in the ingest gateway, the worker or their database.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database could not be opened, migrated or written.
    #[error("database: {0}")]
    Database(String),
    /// A JetStream stream or consumer could not be created, or exists with another configuration.
    #[error("jetstream: {0}")]
    Stream(String),
    /// The entity mapping is invalid or does not match an existing table.
    #[error("entity mapping: {0}")]
    Mapping(String),
    /// The database's writer has `queued` writes waiting already (its limit): this one was not
    /// made; try again shortly.
    #[error("the database is overloaded ({queued} writes are waiting); retry shortly")]
    Overloaded {
        /// The limit of waiting writes that was reached.
        queued: usize,
    },
    /// The worker's message stream failed.
    #[error("consumer: {0}")]
    Consumer(String),
}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        IngestError::Database(e.to_string())
    }
}
