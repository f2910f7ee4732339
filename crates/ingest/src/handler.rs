//! Custom processing: a [`MessageHandler`] runs inside the worker's transaction for every message
//! the first time it is applied, so its writes commit together with the message's status and
//! never twice.
//!
//! Handlers see the store's transaction as plain SQL ([`SqlTx`]), not a driver's connection, so
//! one handler serves SQLite and PostgreSQL (see [`natsapi_core::sql`] for the portable subset,
//! and [`SqlTx::dialect`] for the statements that must differ).

use natsapi_core::TxError;
use natsapi_core::sql::SqlTx;
use uuid::Uuid;

use crate::error::IngestError;

/// A message being applied.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The message id.
    pub message_id: Uuid,
    /// Its entity type.
    pub entity_type: &'a str,
    /// Its body, parsed.
    pub body: &'a serde_json::Value,
    /// Its source.
    pub source: Option<&'a str>,
    /// Which delivery this is (1 for the first).
    pub attempts: i64,
}

/// Why a message could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// It can never succeed (bad data): it is dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
    /// It may succeed later (a missing dependency, a service that is down): it is retried with
    /// back-off until the worker's attempt limit, then dead-lettered.
    #[error("{0}")]
    Transient(String),
    /// A statement failed: retried like a transient failure. (A conflict with another
    /// transaction is not a failure of the message: the store runs the batch again.)
    #[error("database: {0}")]
    Database(#[from] TxError),
}

/// Processing of messages beyond the `messages` table, run in the worker's transaction.
pub trait MessageHandler: Send + Sync + 'static {
    /// Prepares the database (creates tables) when the worker starts, in a transaction of its
    /// own.
    fn prepare(&self, tx: &mut dyn SqlTx) -> Result<(), IngestError> {
        let _ = tx;
        Ok(())
    }

    /// Applies `message`. A message that was applied before (a redelivery) is not passed again.
    /// An error rolls back the writes made for the message. The call may repeat for the same
    /// delivery: the store may run a batch's transaction again (after another message of the
    /// batch failed, after another operation committed with it failed, or after a conflict with
    /// another writer); only the writes of the call that commits remain. So a handler must do
    /// nothing outside `tx` that it cannot do twice.
    fn apply(&self, tx: &mut dyn SqlTx, message: &Message<'_>) -> Result<(), ApplyError>;

    /// Whether [`MessageHandler::apply`] only does brief work on the database it is given (no
    /// call out of the process, no waiting). While every handler of a worker is brief, a message's
    /// first delivery is applied without first committing its `processing` status: it would last
    /// only as long as one short transaction. Redeliveries record `processing` either way. The
    /// default is `false`.
    fn brief(&self) -> bool {
        false
    }
}
