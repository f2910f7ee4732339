//! Task delivery: sends a task's message to the destination its recv names, over NATS, HTTP(S)
//! or a poll connection, and counts the outcome in `natsapi_task_deliveries_total`.
//!
//! A delivery is one attempt. A failure is returned, not retried here: the caller leaves the task
//! to be sent again later (Resonate's EnqueueTasks loop), and a delivery that succeeded but that no
//! worker claims is sent again when the claim timeout passes.

mod error;
mod http;
pub mod nats;
mod poll;
pub mod recv;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use error::DeliveryError;
pub use poll::PollHub;
pub use recv::{Cast, Destination, Recv, RecvError, Targets};

use crate::metrics as m;

/// Default time a NATS flush or an HTTP POST may take.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(1);

/// A task message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The task's id.
    pub task_id: String,
    /// The task's counter (its fencing epoch).
    pub counter: i64,
    /// The task's recv, as stored: JSON text.
    pub recv: String,
    /// The message: JSON.
    pub body: Bytes,
    /// Headers sent along (the trace context of the request that made the task).
    pub head: std::collections::BTreeMap<String, String>,
    /// Only the receiver the recv names exactly may take it (a notify): a poll recv with an id
    /// is then `uni` whatever its cast says.
    pub exact: bool,
}

/// Timeouts of the senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// How long the NATS flush after a publish may take. Default 1 s.
    pub nats_flush_timeout: Duration,
    /// How long an HTTP POST may take, from connecting to the answer. Default 1 s.
    pub http_timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            nats_flush_timeout: DEFAULT_DELIVERY_TIMEOUT,
            http_timeout: DEFAULT_DELIVERY_TIMEOUT,
        }
    }
}

/// Delivers task messages. Cheap to clone; clones share the connections and the poll hub.
#[derive(Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

struct Inner {
    /// The NATS connection; absent when the server runs without NATS.
    nats: Option<async_nats::Client>,
    http: http::HttpSender,
    targets: Targets,
    poll: poll::PollRegistry,
    config: DeliveryConfig,
}

impl Deliverer {
    /// A deliverer publishing with `nats` (absent when the server runs without NATS: `nats://`
    /// deliveries then fail, and the others work), resolving logical names with `targets`.
    ///
    /// # Errors
    /// [`DeliveryError::Recv`] when a target's value is not a valid recv URL, and
    /// [`DeliveryError::HttpClient`] when the HTTP client cannot be built.
    pub fn new(
        nats: Option<async_nats::Client>,
        targets: Targets,
        config: DeliveryConfig,
    ) -> Result<Self, DeliveryError> {
        recv::validate_targets(&targets)?;
        let http = http::HttpSender::new(config.http_timeout)?;
        let poll = poll::PollRegistry::default();
        Ok(Deliverer { inner: Arc::new(Inner { nats, http, targets, poll, config }) })
    }

    /// The targets recvs are resolved with.
    pub fn targets(&self) -> &Targets {
        &self.inner.targets
    }

    /// Registers the hub that serves poll destinations, replacing any earlier one.
    pub fn register_poll_hub(&self, hub: Arc<dyn PollHub>) {
        self.inner.poll.register(hub);
    }

    /// Sends one message to the destination its recv resolves to.
    ///
    /// # Errors
    /// A [`DeliveryError`] saying why it was not delivered; the task should be sent again later.
    pub async fn deliver(&self, outbound: &Outbound) -> Result<(), DeliveryError> {
        let destination = match recv::resolve(&outbound.recv, &self.inner.targets) {
            Ok(destination) => destination,
            Err(e) => {
                count("unresolved", "error");
                return Err(e.into());
            }
        };
        let body = outbound.body.clone();
        let (transport, result) = match &destination {
            Destination::Nats { subject } => {
                let id = nats::message_id(&outbound.task_id, outbound.counter);
                let timeout = self.inner.config.nats_flush_timeout;
                let sent = match &self.inner.nats {
                    Some(client) => {
                        nats::send(client, subject, &id, &outbound.head, body, timeout).await
                    }
                    None => Err(DeliveryError::NatsDisabled { subject: subject.clone() }),
                };
                ("nats", sent)
            }
            Destination::Http { url } => {
                ("http", self.inner.http.send(url, &outbound.head, body).await)
            }
            Destination::Poll { group, id, cast } => {
                let cast = if outbound.exact && id.is_some() { Cast::Uni } else { *cast };
                ("poll", self.poll(group, id, cast, body))
            }
        };
        count(transport, outcome(&result));
        match &result {
            Ok(()) => tracing::debug!(task = %outbound.task_id, counter = outbound.counter,
                %destination, "task delivered"),
            Err(e) => tracing::debug!(task = %outbound.task_id, counter = outbound.counter,
                %destination, error = %e, "task not delivered"),
        }
        result
    }

    fn poll(
        &self,
        group: &str,
        id: &Option<String>,
        cast: Cast,
        body: Bytes,
    ) -> Result<(), DeliveryError> {
        match self.inner.poll.get() {
            Some(hub) => hub.deliver(group, id.as_deref(), cast, body),
            None => Err(DeliveryError::NoPollHub { group: group.to_owned(), cast: cast.as_str() }),
        }
    }
}

/// The `outcome` label of a delivery's result.
fn outcome(result: &Result<(), DeliveryError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(e) if e.is_timeout() => "timeout",
        Err(_) => "error",
    }
}

/// Counts one delivery.
fn count(transport: &'static str, outcome: &'static str) {
    metrics::counter!(m::TASK_DELIVERIES, "transport" => transport, "outcome" => outcome)
        .increment(1);
}
