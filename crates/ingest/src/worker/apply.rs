//! The database side of a batch: mark the messages `processing` (one commit, skipped for first
//! deliveries when every handler is brief), then apply them (one commit). A message is applied
//! once: a redelivery of one already processed changes nothing, and its handlers do not run
//! again.
//!
//! The store's transactions take no savepoint per message: the batch is applied whole, and when
//! some of its messages fail the transaction is rolled back and the batch applied again without
//! them (their failures recorded in the same commit). Failures are rare, so the common batch
//! costs one pass.

use std::sync::Arc;

use natsapi_store::StoreError;

use super::ops::{ApplyBatch, Failures, MarkProcessing};
use super::{Lane, Shared};
use crate::db::messages::Delivered;
use crate::error::IngestError;
use crate::handler::ApplyError;
use crate::rpc::Verified;

/// A readable message: its row data, parsed body and body text, or the signed call it carries.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    /// Row data.
    pub delivered: Delivered,
    /// The body, parsed when some handler needs it.
    pub body: Option<serde_json::Value>,
    /// The body as sent (kept in the message's row); none for a call, which `rpclog` keeps.
    pub text: Option<String>,
    /// The signed call, on the call lane.
    pub call: Option<Arc<Verified>>,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Applied now or by an earlier delivery: ack.
    Applied,
    /// Failed in a way that may pass: retry until the attempt limit.
    Retry(String),
    /// Can never succeed: dead-letter now.
    DeadLetter(String),
}

/// Marks `batch` processing (those of its messages [`marked`] says), then applies it; one
/// outcome per message, in order. An error means the apply transaction did not commit.
pub(super) async fn run(
    shared: &Shared,
    lane: Lane,
    batch: Vec<Arc<Parsed>>,
) -> Result<Vec<Outcome>, IngestError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    // Call methods only write to the database they are given.
    let brief = lane == Lane::Calls || shared.handlers.iter().all(|h| h.brief());
    let rows: Arc<[Delivered]> =
        batch.iter().filter(|p| marked(brief, &p.delivered)).map(|p| p.delivered.clone()).collect();
    if !rows.is_empty() {
        crate::db::run(&shared.store, MarkProcessing { rows }).await?;
    }
    let batch: Arc<[Arc<Parsed>]> = batch.into();
    let mut outcomes = vec![Outcome::Applied; batch.len()];
    let mut skipped = vec![false; batch.len()];
    let mut failed = Vec::new();
    loop {
        let op = ApplyBatch {
            batch: Arc::clone(&batch),
            skipped: skipped.clone().into(),
            failed: failed.clone().into(),
            handlers: Arc::clone(&shared.handlers),
            methods: shared.rpc.methods.clone(),
        };
        let failures = match crate::db::run(&shared.store, op).await {
            Ok(()) => return Ok(outcomes),
            Err(IngestError::Store(StoreError::Tx(e))) => match e.0.downcast::<Failures>() {
                Ok(failures) => failures.0,
                Err(other) => return Err(IngestError::Sql(natsapi_core::TxError(other))),
            },
            Err(e) => return Err(e),
        };
        for (index, error) in failures {
            let (outcome, text) = match error {
                ApplyError::Permanent(m) => (Outcome::DeadLetter(m.clone()), m),
                e @ (ApplyError::Transient(_) | ApplyError::Database(_)) => {
                    let text = e.to_string();
                    (Outcome::Retry(text.clone()), text)
                }
            };
            let row = &batch[index].delivered;
            // A message that will be retried shows `failed` with its error; one that is going to
            // the dead-letter stream keeps its status (`processing`, or `accepted` when it was
            // not marked) until it is there.
            if matches!(outcome, Outcome::Retry(_)) && row.attempts < shared.settings.max_attempts {
                failed.push((row.clone(), text));
            }
            skipped[index] = true;
            outcomes[index] = outcome;
        }
    }
}

/// Whether a delivery is marked `processing` before it is applied: always, unless every handler
/// is brief and this is the message's first delivery (its `processing` would last one short
/// transaction).
fn marked(brief: bool, delivered: &Delivered) -> bool {
    !brief || delivered.attempts > 1
}
