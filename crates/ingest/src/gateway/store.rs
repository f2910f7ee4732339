//! Storing a group of messages: their status rows in one transaction, then their publishes
//! pipelined, then one more transaction to tidy the rows of publishes that failed. Both routes
//! use it: a batch is one group; single messages are grouped by the [`Coalescer`].
//!
//! A message sent with an `Idempotency-Key` carries its [`crate::fingerprint`]. When its id has
//! a row already (this gateway's, another gateway's, or the worker's once it applied the message),
//! the fingerprints must agree: the same key with another message is refused (422), and the same
//! message again is a replay. A replay of a message a worker has recorded is answered from its row
//! (its stream sequence), without publishing it again.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use super::ops::{RecordAccepted, Tidy};
use super::publish::Stored;
use super::{GatewayError, Shared};
use crate::db::messages::{Accepted, Insertion};
use crate::envelope::{MessageEnvelope, subject};

/// What is published for a message: the subject, the payload and the headers (`Nats-Msg-Id`
/// among them).
#[derive(Debug, Clone)]
pub(super) struct Publication {
    /// Where it goes.
    pub subject: String,
    /// What JetStream keeps.
    pub payload: bytes::Bytes,
    /// Its headers.
    pub headers: async_nats::HeaderMap,
}

impl Publication {
    /// A publication of `payload` to `subject` with `Nats-Msg-Id` set to `message_id` (JetStream
    /// drops a repeat within its duplicate window) and, when given, the message's
    /// [`crate::fingerprint`] for the worker.
    pub(super) fn new(
        subject: String,
        payload: bytes::Bytes,
        message_id: Uuid,
        fingerprint: Option<&str>,
    ) -> Self {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id.to_string().as_str());
        if let Some(fingerprint) = fingerprint {
            headers.insert(crate::fingerprint::HEADER, fingerprint);
        }
        Publication { subject, payload, headers }
    }
}

/// A message ready to store: what is published and its status row.
#[derive(Debug, Clone)]
pub(super) struct Ready {
    /// What is published.
    pub publication: Publication,
    /// What the gateway records before publishing.
    pub row: Accepted,
    /// What took the row's id when another message has it (its fingerprint differs).
    pub taken_by: Taker,
}

/// What makes a message's id, for the answer when the id belongs to another message.
#[derive(Debug, Clone)]
pub(super) enum Taker {
    /// An `Idempotency-Key`.
    Key,
    /// A signed call's `(wallet, id)`.
    Call {
        /// The call's id.
        id: String,
    },
}

impl Ready {
    /// The refusal of this message when its id belongs to another message.
    fn conflict(&self) -> GatewayError {
        match &self.taken_by {
            Taker::Key => GatewayError::key_conflict(self.row.message_id),
            Taker::Call { id } => {
                GatewayError::call_conflict(id, self.row.source.as_deref().unwrap_or_default())
            }
        }
    }
}

impl Ready {
    /// The envelope and row of message `message_id` with `body`, received at `received_at`;
    /// `fingerprint` when it was sent with an `Idempotency-Key`.
    pub(super) fn new(
        shared: &Shared,
        message_id: Uuid,
        body: &str,
        entity_type: String,
        source: Option<String>,
        received_at: i64,
        fingerprint: Option<String>,
    ) -> Result<Self, GatewayError> {
        let envelope = MessageEnvelope {
            message_id,
            body: body.to_owned(),
            entity_type: Some(entity_type.clone()),
            received_at: crate::time::datetime(received_at),
            retry_count: 0,
            source: source.clone(),
        };
        let payload = serde_json::to_vec(&envelope)
            .map_err(|e| GatewayError::unavailable(format!("cannot encode the envelope: {e}")))?;
        let publication = Publication::new(
            subject(&shared.streams.subject_prefix, &entity_type),
            payload.into(),
            message_id,
            fingerprint.as_deref(),
        );
        let row = Accepted { message_id, entity_type, source, received_at, fingerprint };
        Ok(Ready { publication, row, taken_by: Taker::Key })
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
    let rows: Arc<[Accepted]> = items.iter().map(|r| r.row.clone()).collect();
    let found = crate::db::run(&shared.store, RecordAccepted { rows })
        .await
        .map_err(|e| GatewayError::unavailable(format!("cannot record the messages: {e}")))?;

    // What is known before publishing: a conflict, a message a worker has, or nothing yet.
    let settled: Vec<Option<Result<Stored, GatewayError>>> =
        items.iter().zip(&found).map(|(item, found)| settle(item, found)).collect();
    let publishes: Vec<_> = items
        .iter()
        .zip(&settled)
        .filter(|(_, settled)| settled.is_none())
        .map(|(item, _)| shared.publish(&item.publication))
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
            // request (a failed publish, a conflict).
            (Err(_), Insertion::Created) => forget.push(item.row.message_id),
            // A concurrent attempt with the same key may have failed and removed the row.
            (Ok(stored), Insertion::Exists { .. }) if !stored.recorded => {
                rewrite.push(item.row.clone());
            }
            _ => {}
        }
    }
    if !forget.is_empty() || !rewrite.is_empty() {
        let tidy = Tidy { forget: forget.into(), rewrite: rewrite.into() };
        if let Err(e) = crate::db::run(&shared.store, tidy).await {
            tracing::warn!(error = %e, "cannot tidy the status rows of a group");
        }
    }
    Ok(outcomes)
}

/// The outcome of `item` when it is known without publishing: a conflict between its fingerprint
/// and the one stored for its id, or a message a worker has already recorded (a duplicate, not
/// published again). `None`: publish it.
fn settle(item: &Ready, found: &Insertion) -> Option<Result<Stored, GatewayError>> {
    let Insertion::Exists { fingerprint, stream_seq } = found else { return None };
    if let Some(sent) = item.row.fingerprint.as_deref()
        && !crate::fingerprint::matches(fingerprint.as_deref(), sent)
    {
        return Some(Err(item.conflict()));
    }
    let sequence = (*stream_seq)?;
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
