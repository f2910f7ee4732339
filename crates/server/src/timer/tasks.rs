//! Task delivery and task timeouts (spec §9.3–§9.4): tasks whose lease or delivery window ended
//! go back for redelivery (or time out), and tasks due for delivery are sent to their receivers,
//! at most one per execution at a time.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use natsapi_core::Clock;
use natsapi_core::MessageKind;
use natsapi_core::tasks::{
    Delivered, Delivery, NextTaskDeadline, RecordDeliveries, TakeDeliveries, TimeoutTasks,
};
use serde::Serialize;

use super::{Sweep, Swept, Timer};
use crate::api::{Api, ApiError};
use crate::delivery::{Deliverer, Outbound};

/// Tasks timed out, or picked for delivery, per transaction.
pub const TASK_BATCH: usize = 200;

/// Deliveries in flight at once.
const PARALLEL_DELIVERIES: usize = 64;

/// Delivers tasks and times them out.
pub struct TaskWork {
    deliverer: Arc<Deliverer>,
}

impl TaskWork {
    /// Task work that sends through `deliverer`.
    pub fn new(deliverer: Arc<Deliverer>) -> Self {
        TaskWork { deliverer }
    }
}

/// The message an invoke or resume task sends (spec §9.3).
#[derive(Serialize)]
struct TaskMessage<'a> {
    #[serde(rename = "type")]
    kind: MessageKind,
    task: &'a natsapi_core::Task,
}

/// The message a notify task sends: the completed promise.
#[derive(Serialize)]
struct NotifyMessage<'a> {
    #[serde(rename = "type")]
    kind: MessageKind,
    promise: &'a natsapi_core::Promise,
}

/// The JSON a delivery carries.
fn message_body(delivery: &Delivery) -> Result<Bytes, serde_json::Error> {
    let task = &delivery.task;
    let body = match (&delivery.promise, task.mesg.kind) {
        (Some(promise), MessageKind::Notify) => {
            serde_json::to_vec(&NotifyMessage { kind: MessageKind::Notify, promise })?
        }
        _ => serde_json::to_vec(&TaskMessage { kind: task.mesg.kind, task })?,
    };
    Ok(Bytes::from(body))
}

impl Sweep for TaskWork {
    fn timer(&self) -> Timer {
        Timer::Tasks
    }

    fn sweep<'a>(&'a self, api: &'a Api) -> BoxFuture<'a, Result<Swept, ApiError>> {
        async move {
            let timeouts = api.run(TimeoutTasks { limit: TASK_BATCH }).await?.value;
            let picked = api.run(TakeDeliveries { limit: TASK_BATCH }).await?.value;
            let outcomes: Vec<Delivered> = futures::stream::iter(picked.deliver)
                .map(|delivery| async move {
                    let sent_at = api.time().now_ms();
                    let ok = match message_body(&delivery) {
                        Ok(body) => {
                            let outbound = Outbound {
                                task_id: delivery.task.id.clone(),
                                counter: delivery.task.counter,
                                recv: delivery.task.recv.clone(),
                                body,
                                head: delivery.task.mesg.head.clone(),
                                // A notify goes only to the subscriber itself (spec §9.3).
                                exact: delivery.task.mesg.kind == MessageKind::Notify,
                            };
                            match self.deliverer.deliver(&outbound).await {
                                Ok(()) => true,
                                Err(e) => {
                                    tracing::warn!(task = %delivery.task.id, error = %e, "task delivery failed; retrying later");
                                    false
                                }
                            }
                        }
                        Err(e) => {
                            tracing::error!(task = %delivery.task.id, error = %e, "cannot encode task message");
                            false
                        }
                    };
                    Delivered { id: delivery.task.id, counter: delivery.task.counter, ok, sent_at }
                })
                .buffer_unordered(PARALLEL_DELIVERIES)
                .collect()
                .await;
            let next_deadline = if outcomes.is_empty() {
                api.run(NextTaskDeadline).await?.value
            } else {
                api.run(RecordDeliveries { outcomes }).await?.value
            };
            let more = timeouts.revoked + timeouts.timed_out == TASK_BATCH
                || picked.picked == TASK_BATCH;
            Ok(Swept { more, next_deadline })
        }
        .boxed()
    }
}
