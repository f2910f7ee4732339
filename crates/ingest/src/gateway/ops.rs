//! The gateway's writes, as store operations: record a group's rows before publishing, and tidy
//! the rows of the messages whose publish failed. Both are plain data and may run again (the store
//! replays a group after a neighbour fails, or after a conflict): inserts that skip rows already
//! there, and deletes of rows still in their first state, come out the same.

use std::sync::Arc;

use natsapi_core::{Operation, Reply, Tx, TxError};
use uuid::Uuid;

use crate::db::done;
use crate::db::messages::{self, Accepted, Insertion};

/// Records `rows` as accepted, each unless its id has a row; answers what it found for each.
#[derive(Debug, Clone)]
pub(super) struct RecordAccepted {
    /// The group's rows.
    pub rows: Arc<[Accepted]>,
}

impl Operation for RecordAccepted {
    type Output = Vec<Insertion>;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Self::Output>, TxError> {
        done(messages::insert_accepted(tx, &self.rows)?)
    }
}

/// Deletes the accepted rows of `forget` (publishes that failed) and records `rewrite` again
/// (publishes that succeeded for a row a concurrent failure may have deleted).
#[derive(Debug, Clone)]
pub(super) struct Tidy {
    /// Messages JetStream does not have from this request.
    pub forget: Arc<[Uuid]>,
    /// Messages JetStream has, whose row this request did not create.
    pub rewrite: Arc<[Accepted]>,
}

impl Operation for Tidy {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        messages::forget_accepted(tx, &self.forget)?;
        messages::insert_accepted(tx, &self.rewrite)?;
        done(())
    }
}
