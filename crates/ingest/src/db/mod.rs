//! The ingest tables as a family of the store: the `messages` table (the status of every message;
//! created by the store's migrations) and the tables of [`crate::mapping`] and of custom
//! [`crate::handler`]s.
//!
//! Why through the store: one writer, one migration scheme, one durability setting and one
//! connection opener for everything natsapi keeps, on SQLite or PostgreSQL alike. The gateway's
//! and the worker's database work are [`natsapi_core::Operation`]s (plain data, which the store
//! may run again after rolling back a group or after a conflict) run by
//! [`natsapi_store::Store::run`]; those that only read run on the store's read path. A gateway
//! and a worker of one process share one store; separate processes open the same database.

pub mod messages;

use natsapi_core::{Operation, Reply, Success, Tx, TxError};
use natsapi_store::{Store, StoreError};
use uuid::Uuid;

use crate::error::IngestError;
use messages::StatusRow;

/// Runs `op` on `store` and returns its value once its writes are committed. The ingest
/// operations never refuse; a refusal would be reported as a failed statement.
pub(crate) async fn run<O: Operation>(store: &Store, op: O) -> Result<O::Output, IngestError> {
    match store.run(op).await? {
        Ok(success) => Ok(success.value),
        Err(refusal) => Err(IngestError::Store(StoreError::Tx(TxError::new(refusal)))),
    }
}

/// The success every ingest operation answers with.
pub(crate) fn done<T>(value: T) -> Result<Reply<T>, TxError> {
    Ok(Ok(Success::ok(value)))
}

/// Reads the row of one message, on the read path.
#[derive(Debug, Clone)]
pub(crate) struct FindStatus {
    /// The message.
    pub id: Uuid,
}

impl Operation for FindStatus {
    type Output = Option<StatusRow>;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Self::Output>, TxError> {
        done(messages::find(tx, &self.id)?)
    }

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Checks that the database answers a trivial query, on the read path.
#[derive(Debug, Clone)]
pub(crate) struct Ping;

impl Operation for Ping {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        tx.query("SELECT 1", &[])?;
        done(())
    }

    fn read_attempt(&self) -> Option<Self> {
        Some(Ping)
    }
}
