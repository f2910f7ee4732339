//! Custom processing: a [`MessageHandler`] runs inside the worker's transaction for every message
//! the first time it is applied, so its writes commit together with the message's status and
//! never twice.

use rusqlite::Connection;
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// It can never succeed (bad data): it is dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
    /// It may succeed later (a busy database, a missing dependency): it is retried with back-off
    /// until the worker's attempt limit, then dead-lettered.
    #[error("{0}")]
    Transient(String),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        ApplyError::Transient(format!("database: {e}"))
    }
}

/// Processing of messages beyond the `messages` table, run in the worker's transaction.
pub trait MessageHandler: Send + Sync + 'static {
    /// Prepares the database (creates tables) when the worker starts.
    fn prepare(&self, conn: &Connection) -> Result<(), IngestError> {
        let _ = conn;
        Ok(())
    }

    /// Applies `message`. A message that was applied before (a redelivery) is not passed again.
    /// An error rolls back the writes made for the message. The call may repeat for the same
    /// delivery: when another message of its batch fails, the batch is undone and applied again
    /// message by message; only the writes of the call that commits remain.
    fn apply(&self, conn: &Connection, message: &Message<'_>) -> Result<(), ApplyError>;

    /// Whether [`MessageHandler::apply`] only does brief work on the database it is given (no
    /// call out of the process, no waiting). While every handler of a worker is brief, a message's
    /// first delivery is applied without first committing its `processing` status: it would last
    /// only as long as one short transaction. Redeliveries record `processing` either way. The
    /// default is `false`.
    fn brief(&self) -> bool {
        false
    }
}
