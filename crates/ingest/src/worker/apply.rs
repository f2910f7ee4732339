//! The database side of a batch: mark the messages `processing` (one commit, skipped for first
//! deliveries when every handler is brief), then apply them (one commit). A message is applied
//! once: a redelivery of one already processed changes nothing, and its handlers do not run
//! again.

use super::Shared;
use crate::db::messages::{self, Delivered};
use crate::error::IngestError;
use crate::handler::{ApplyError, Message};
use crate::status::MessageStatus;

/// A readable message: its row data, parsed body and body text.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    /// Row data.
    pub delivered: Delivered,
    /// The body, parsed when some handler needs it.
    pub body: Option<serde_json::Value>,
    /// The body as sent.
    pub text: String,
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

/// Marks `batch` processing (those of its messages [`marked`] says), then applies it; one outcome
/// per message, in order. An error means the apply transaction did not commit.
pub(super) async fn run(
    shared: &Shared,
    batch: Vec<std::sync::Arc<Parsed>>,
) -> Result<Vec<Outcome>, IngestError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let now = shared.clock.now_ms();
    let brief = shared.handlers.iter().all(|h| h.brief());
    let rows: Vec<Delivered> =
        batch.iter().filter(|p| marked(brief, &p.delivered)).map(|p| p.delivered.clone()).collect();
    if !rows.is_empty() {
        // The mark is not flushed: lost to a power cut, it is written again by the redelivery.
        shared
            .db
            .write_unflushed(move |conn| {
                for row in &rows {
                    messages::set_status(conn, row, MessageStatus::Processing, None, now)?;
                }
                Ok(())
            })
            .await?;
    }
    let handlers = shared.handlers.clone();
    let max_attempts = shared.settings.max_attempts;
    let now = shared.clock.now_ms();
    shared
        .db
        .write(move |conn| {
            // Fast path: the whole batch without a savepoint per message (which makes SQLite copy
            // every page it touches into a statement journal). Only when a message fails is the
            // batch undone and applied again message by message.
            conn.execute_batch("SAVEPOINT batch")?;
            let all =
                batch.iter().try_for_each(|parsed| apply_one(conn, &handlers, parsed, now, brief));
            if all.is_ok() {
                conn.execute_batch("RELEASE batch")?;
                return Ok(vec![Outcome::Applied; batch.len()]);
            }
            conn.execute_batch("ROLLBACK TO batch; RELEASE batch")?;
            batch
                .iter()
                .map(|parsed| apply_isolated(conn, &handlers, parsed, now, brief, max_attempts))
                .collect()
        })
        .await
}

/// Whether a delivery is marked `processing` before it is applied: always, unless every handler
/// is brief and this is the message's first delivery (its `processing` would last one short
/// transaction).
fn marked(brief: bool, delivered: &Delivered) -> bool {
    !brief || delivered.attempts > 1
}

/// Applies one message in a savepoint of its own; a failure undoes only its writes and records
/// it as `failed` when it will be retried.
fn apply_isolated(
    conn: &rusqlite::Connection,
    handlers: &[std::sync::Arc<dyn crate::handler::MessageHandler>],
    parsed: &Parsed,
    now: i64,
    brief: bool,
    max_attempts: i64,
) -> Result<Outcome, IngestError> {
    conn.execute_batch("SAVEPOINT message")?;
    match apply_one(conn, handlers, parsed, now, brief) {
        Ok(()) => {
            conn.execute_batch("RELEASE message")?;
            Ok(Outcome::Applied)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO message; RELEASE message")?;
            let (outcome, text) = match e {
                ApplyError::Permanent(m) => (Outcome::DeadLetter(m.clone()), m),
                ApplyError::Transient(m) => (Outcome::Retry(m.clone()), m),
            };
            let row = &parsed.delivered;
            // A message that will be retried shows `failed` with its error; one that is going to
            // the dead-letter stream keeps its status (`processing`, or `accepted` when it was
            // not marked) until it is there.
            if matches!(outcome, Outcome::Retry(_)) && row.attempts < max_attempts {
                messages::set_status(conn, row, MessageStatus::Failed, Some(&text), now)?;
            }
            Ok(outcome)
        }
    }
}

fn apply_one(
    conn: &rusqlite::Connection,
    handlers: &[std::sync::Arc<dyn crate::handler::MessageHandler>],
    parsed: &Parsed,
    now: i64,
    brief: bool,
) -> Result<(), ApplyError> {
    let row = &parsed.delivered;
    let first = messages::mark_processed(conn, row, &parsed.text, now, marked(brief, row))
        .map_err(|e| ApplyError::Transient(e.to_string()))?;
    let Some(body) = parsed.body.as_ref().filter(|_| first) else { return Ok(()) };
    let message = Message {
        message_id: row.message_id,
        entity_type: &row.entity_type,
        body,
        source: row.source.as_deref(),
        attempts: row.attempts,
    };
    handlers.iter().try_for_each(|h| h.apply(conn, &message))
}
