//! Storing a group of messages: their status rows in one transaction, then their publishes
//! pipelined, then one more transaction to tidy the rows of publishes that failed. Both routes
//! use it: a batch is one group; single messages are grouped by the [`Coalescer`].
//!
//! A message sent with an `Idempotency-Key` carries its [`crate::fingerprint`]. When its id has
//! a row already, in the gateway's file or (once the gateway has pruned its own) in the worker's
//! data file, the fingerprints must agree: the same key with another message is refused (422),
//! and the same message again is a replay.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use super::publish::Stored;
use super::{GatewayError, Shared};
use crate::db::messages::{self, Accepted, Insertion, Recorded};
use crate::envelope::MessageEnvelope;

/// A message ready to store: its envelope and its status row.
#[derive(Debug, Clone)]
pub(super) struct Ready {
    /// What is published.
    pub envelope: MessageEnvelope,
    /// What the gateway records before publishing.
    pub row: Accepted,
}

impl Ready {
    /// The envelope and row of message `message_id` with `body`, received at `received_at`;
    /// `fingerprint` when it was sent with an `Idempotency-Key`.
    pub(super) fn new(
        message_id: Uuid,
        body: &str,
        entity_type: String,
        source: Option<String>,
        received_at: i64,
        fingerprint: Option<String>,
    ) -> Self {
        let envelope = MessageEnvelope {
            message_id,
            body: body.to_owned(),
            entity_type: Some(entity_type.clone()),
            received_at: crate::time::datetime(received_at),
            retry_count: 0,
            source: source.clone(),
        };
        let row = Accepted { message_id, entity_type, source, received_at, fingerprint };
        Ready { envelope, row }
    }
}

/// Records every row, then publishes every envelope (`window` acknowledgements in flight) and
/// returns each one's outcome, in order. An outer error means the rows could not be recorded and
/// nothing was published.
pub(super) async fn store_all(
    shared: &Shared,
    items: &[Ready],
    window: usize,
) -> Result<Vec<Result<Stored, GatewayError>>, GatewayError> {
    let rows: Vec<Accepted> = items.iter().map(|r| r.row.clone()).collect();
    let found = shared
        .db
        .write(move |conn| messages::insert_accepted(conn, &rows))
        .await
        .map_err(|e| GatewayError::unavailable(format!("cannot record the messages: {e}")))?;
    let recorded = recorded_by_worker(shared, items, &found).await;

    // What is known before publishing: a conflict, a message a worker has, or nothing yet.
    let settled: Vec<Option<Result<Stored, GatewayError>>> = items
        .iter()
        .zip(&found)
        .zip(recorded)
        .map(|((item, found), recorded)| settle(item, found, recorded))
        .collect();
    let publishes: Vec<_> = items
        .iter()
        .zip(&settled)
        .filter(|(_, settled)| settled.is_none())
        .map(|(item, _)| shared.publish(&item.envelope, item.row.fingerprint.as_deref()))
        .collect();
    let mut published =
        futures::stream::iter(publishes).buffered(window.max(1)).collect::<Vec<_>>().await;
    published.reverse();
    let outcomes: Vec<Result<Stored, GatewayError>> = settled
        .into_iter()
        .map(|settled| {
            settled
                .or_else(|| published.pop())
                .unwrap_or_else(|| Err(GatewayError::unavailable("the message was not published")))
        })
        .collect();

    let mut forget = Vec::new();
    let mut rewrite = Vec::new();
    for ((item, found), outcome) in items.iter().zip(&found).zip(&outcomes) {
        match (outcome, found) {
            // The row this request made belongs to a message JetStream does not have from this
            // request (a failed publish, a conflict), or one the worker's data file records.
            (Err(_), Insertion::Created) => forget.push(item.envelope.message_id),
            (Ok(stored), Insertion::Created) if stored.recorded => {
                forget.push(item.envelope.message_id);
            }
            // A concurrent attempt with the same key may have failed and removed the row.
            (Ok(_), Insertion::Exists { .. }) => rewrite.push(item.row.clone()),
            _ => {}
        }
    }
    if !forget.is_empty() || !rewrite.is_empty() {
        let tidied = shared
            .db
            .write(move |conn| {
                messages::forget_accepted(conn, &forget)?;
                messages::insert_accepted(conn, &rewrite).map(drop)
            })
            .await;
        if let Err(e) = tidied {
            tracing::warn!(error = %e, "cannot tidy the status rows of a group");
        }
    }
    Ok(outcomes)
}

/// For each item, what the worker's data file records of it, looked up only for keyed messages
/// whose row this request created: the gateway prunes its rows of messages a worker has
/// recorded, so such a key may have been used before. A failed lookup fails those items (503):
/// their key cannot be checked.
async fn recorded_by_worker(
    shared: &Shared,
    items: &[Ready],
    found: &[Insertion],
) -> Vec<Result<Option<Recorded>, GatewayError>> {
    let wanted: Vec<usize> = (0..items.len())
        .filter(|&i| {
            items[i].row.fingerprint.is_some() && found.get(i) == Some(&Insertion::Created)
        })
        .collect();
    let mut results: Vec<Result<Option<Recorded>, GatewayError>> =
        items.iter().map(|_| Ok(None)).collect();
    if wanted.is_empty() {
        return results;
    }
    let ids: Vec<Uuid> = wanted.iter().map(|&i| items[i].envelope.message_id).collect();
    match shared.data.read(move |conn| messages::find_recorded(conn, &ids)).await {
        // No data file, or no schema yet: no worker has recorded anything.
        Ok(None) => {}
        Ok(Some(rows)) => {
            for (&i, row) in wanted.iter().zip(rows) {
                results[i] = Ok(row);
            }
        }
        Err(e) => {
            let error = GatewayError::unavailable(format!(
                "cannot check the Idempotency-Key against the worker's records: {e}"
            ));
            for &i in &wanted {
                results[i] = Err(error.clone());
            }
        }
    }
    results
}

/// The outcome of `item` when it is known without publishing: a conflict between its fingerprint
/// and the one stored for its id, a message the worker has already recorded (a duplicate, not
/// published again), or a failed lookup. `None`: publish it.
fn settle(
    item: &Ready,
    found: &Insertion,
    recorded: Result<Option<Recorded>, GatewayError>,
) -> Option<Result<Stored, GatewayError>> {
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(e) => return Some(Err(e)),
    };
    let stored = match (found, &recorded) {
        (Insertion::Exists { fingerprint }, _) => Some(fingerprint.as_deref()),
        (Insertion::Created, Some(recorded)) => Some(recorded.fingerprint.as_deref()),
        (Insertion::Created, None) => None,
    };
    if let (Some(sent), Some(stored)) = (item.row.fingerprint.as_deref(), stored)
        && !crate::fingerprint::matches(stored, sent)
    {
        return Some(Err(GatewayError::key_conflict(item.envelope.message_id)));
    }
    let sequence = recorded.and_then(|r| r.stream_seq)?;
    Some(Ok(Stored { sequence, duplicate: true, recorded: true }))
}

/// A single message waiting for its group.
struct Waiting {
    ready: Ready,
    reply: oneshot::Sender<Result<Stored, GatewayError>>,
}

/// Groups concurrent single messages so that they share one transaction and one burst of
/// publishes, as a batch does: per-message commits and thread hand-offs cost single messages
/// several times what a batch line costs.
#[derive(Clone)]
pub(super) struct Coalescer {
    queue: mpsc::Sender<Waiting>,
}

/// Most messages in one group.
const MAX_GROUP: usize = 512;
/// Groups being stored at once; while they are busy, the next group fills up.
const GROUPS_IN_FLIGHT: usize = 4;

impl Coalescer {
    /// Starts the grouping task on the current runtime.
    pub(super) fn start(shared: Arc<Shared>) -> Self {
        let (queue, waiting) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(group_loop(shared, waiting));
        Coalescer { queue }
    }

    /// Stores one message with whatever else is waiting.
    pub(super) async fn store(&self, ready: Ready) -> Result<Stored, GatewayError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Waiting { ready, reply })
            .await
            .map_err(|_| GatewayError::unavailable("the gateway is shutting down"))?;
        answer.await.map_err(|_| GatewayError::unavailable("the gateway is shutting down"))?
    }
}

async fn group_loop(shared: Arc<Shared>, mut waiting: mpsc::Receiver<Waiting>) {
    let slots = Arc::new(Semaphore::new(GROUPS_IN_FLIGHT));
    while let Some(first) = waiting.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match waiting.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let (items, replies): (Vec<_>, Vec<_>) =
                group.into_iter().map(|w| (w.ready, w.reply)).unzip();
            match store_all(&shared, &items, MAX_GROUP).await {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
}
