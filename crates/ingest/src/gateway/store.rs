//! Storing a group of messages: their status rows in one transaction, then their publishes
//! pipelined, then one more transaction to tidy the rows of publishes that failed. Both routes
//! use it: a batch is one group; single messages are grouped by the [`Coalescer`].

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::publish::Stored;
use super::{GatewayError, Shared};
use crate::db::messages::{self, Accepted};
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
    /// The envelope and row of message `message_id` with `body`, received at `received_at`.
    pub(super) fn new(
        message_id: uuid::Uuid,
        body: &str,
        entity_type: String,
        source: Option<String>,
        received_at: i64,
    ) -> Self {
        let envelope = MessageEnvelope {
            message_id,
            body: body.to_owned(),
            entity_type: Some(entity_type.clone()),
            received_at: crate::time::datetime(received_at),
            retry_count: 0,
            source: source.clone(),
        };
        Ready { envelope, row: Accepted { message_id, entity_type, source, received_at } }
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
    let created = shared
        .db
        .write(move |conn| messages::insert_accepted(conn, &rows))
        .await
        .map_err(|e| GatewayError::unavailable(format!("cannot record the messages: {e}")))?;

    let publishes: Vec<_> = items.iter().map(|item| shared.publish(&item.envelope)).collect();
    let outcomes: Vec<_> = futures::stream::iter(publishes).buffered(window.max(1)).collect().await;

    let mut unstored = Vec::new();
    let mut rewrite = Vec::new();
    for ((item, created), outcome) in items.iter().zip(&created).zip(&outcomes) {
        match (outcome, created) {
            // The row this request made belongs to a message JetStream does not have.
            (Err(_), true) => unstored.push(item.envelope.message_id),
            // A concurrent attempt with the same key may have failed and removed the row.
            (Ok(_), false) => rewrite.push(item.row.clone()),
            _ => {}
        }
    }
    if !unstored.is_empty() || !rewrite.is_empty() {
        let tidied = shared
            .db
            .write(move |conn| {
                messages::forget_accepted(conn, &unstored)?;
                messages::insert_accepted(conn, &rewrite).map(drop)
            })
            .await;
        if let Err(e) = tidied {
            tracing::warn!(error = %e, "cannot tidy the status rows of a group");
        }
    }
    Ok(outcomes)
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
