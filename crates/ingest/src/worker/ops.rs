//! The worker's database work, as store operations: prepare the handlers' tables, mark a batch
//! `processing`, apply a batch, record a dead letter. Each is plain data that the store may run
//! again (after rolling back a group, or after a conflict with another writer); a batch whose
//! messages fail is not committed in part but handed back with the failures, and the worker runs
//! it again without them ([`super::apply`]).

use std::sync::Arc;

use natsapi_core::sql::SqlTx;
use natsapi_core::{Operation, Reply, Tx, TxError};

use super::apply::Parsed;
use crate::db::done;
use crate::db::messages::{self, Delivered};
use crate::handler::{ApplyError, Message, MessageHandler};
use crate::rpc::{CallContext, Methods, Verified, rpclog};
use crate::status::MessageStatus;

/// The handlers of a worker.
pub(super) type Handlers = Arc<[Arc<dyn MessageHandler>]>;

/// Runs every handler's [`MessageHandler::prepare`]. A handler's error travels inside the
/// [`TxError`], as it was.
#[derive(Clone)]
pub(super) struct Prepare {
    /// The worker's handlers.
    pub handlers: Handlers,
}

impl Operation for Prepare {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        for handler in self.handlers.iter() {
            handler.prepare(tx).map_err(TxError::new)?;
        }
        done(())
    }
}

/// Marks messages `processing` before they are applied.
#[derive(Debug, Clone)]
pub(super) struct MarkProcessing {
    /// The messages.
    pub rows: Arc<[Delivered]>,
}

impl Operation for MarkProcessing {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<()>, TxError> {
        for row in self.rows.iter() {
            messages::set_status(tx, row, MessageStatus::Processing, None, now)?;
        }
        done(())
    }
}

/// Records a message as dead-lettered, once the dead-letter stream has it.
#[derive(Debug, Clone)]
pub(super) struct DeadLettered {
    /// The message.
    pub row: Delivered,
    /// Why it was dead-lettered.
    pub error: String,
}

impl Operation for DeadLettered {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<()>, TxError> {
        let error = Some(self.error.as_str());
        messages::set_status(tx, &self.row, MessageStatus::DeadLettered, error, now)?;
        done(())
    }
}

/// The messages of a batch that failed, by their index in the batch. The operation that found
/// them fails with this error, so that none of its writes stay.
#[derive(Debug, thiserror::Error)]
#[error("{} message(s) of the batch failed", .0.len())]
pub(super) struct Failures(pub Vec<(usize, ApplyError)>);

/// Applies the messages of a batch that are not `skipped`, after recording the `failed` ones
/// (which will be retried) as failed. Succeeds only when every message it applies succeeds;
/// otherwise fails with the [`Failures`] it found, so the worker can run it again without them.
#[derive(Clone)]
pub(super) struct ApplyBatch {
    /// The batch.
    pub batch: Arc<[Arc<Parsed>]>,
    /// Messages left out (they failed in an earlier run), by index.
    pub skipped: Arc<[bool]>,
    /// Messages to record as failed, with their error.
    pub failed: Arc<[(Delivered, String)]>,
    /// The worker's handlers.
    pub handlers: Handlers,
    /// The methods of signed calls.
    pub methods: Methods,
}

impl Operation for ApplyBatch {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<()>, TxError> {
        for (row, error) in self.failed.iter() {
            messages::set_status(tx, row, MessageStatus::Failed, Some(error), now)?;
        }
        let pending: Vec<(usize, &Parsed)> = self
            .batch
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.skipped[*i])
            .map(|(i, parsed)| (i, parsed.as_ref()))
            .collect();
        let rows: Vec<(&Delivered, Option<&str>)> =
            pending.iter().map(|(_, p)| (&p.delivered, p.text.as_deref())).collect();
        let first = messages::mark_processed(tx, &rows, now)?;
        let mut failures = Vec::new();
        for ((index, parsed), first) in pending.into_iter().zip(first) {
            // A message applied before (a redelivery) is not passed to the handlers again.
            if !first {
                continue;
            }
            let applied = match &parsed.call {
                Some(call) => apply_call(tx, &self.methods, parsed, call, now),
                None => apply_handlers(tx, &self.handlers, parsed),
            };
            match applied {
                Ok(()) => {}
                Err(e @ ApplyError::Database(_)) => {
                    // PostgreSQL ends a transaction at a failed statement: nothing after it
                    // would run.
                    failures.push((index, e));
                    break;
                }
                Err(e) => failures.push((index, e)),
            }
        }
        if failures.is_empty() { done(()) } else { Err(TxError::new(Failures(failures))) }
    }
}

/// Records a signed call in `rpclog` and runs its method, unless `rpclog` has the call already
/// (its `(wallet, id)` was applied before).
fn apply_call(
    tx: &mut dyn SqlTx,
    methods: &Methods,
    parsed: &Parsed,
    call: &Verified,
    now: i64,
) -> Result<(), ApplyError> {
    let row = &parsed.delivered;
    if !rpclog::insert(tx, call, row.stream_seq, row.received_at, now)? {
        return Ok(());
    }
    let context = CallContext {
        wallet: &call.wallet,
        id: &call.call.id,
        ts: call.call.ts,
        stream_sequence: row.stream_seq,
        received_at: row.received_at,
        now,
    };
    methods.apply(tx, &call.call.method, &context, &call.call.params)
}

/// Runs the handlers on a message applied for the first time.
fn apply_handlers(
    tx: &mut dyn SqlTx,
    handlers: &[Arc<dyn MessageHandler>],
    parsed: &Parsed,
) -> Result<(), ApplyError> {
    let Some(body) = parsed.body.as_ref() else { return Ok(()) };
    let row = &parsed.delivered;
    let message = Message {
        message_id: row.message_id,
        entity_type: &row.entity_type,
        body,
        source: row.source.as_deref(),
        attempts: row.attempts,
    };
    handlers.iter().try_for_each(|h| h.apply(tx, &message))
}
