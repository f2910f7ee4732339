//! Prometheus metrics: names in one place, and the process-wide recorder `/metrics` renders.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::operations::OPERATIONS;

/// Requests answered, by `transport`, `operation` and HTTP-style `status`.
pub const REQUESTS: &str = "natsapi_requests_total";
/// Seconds from receipt to reply, by `transport` and `operation`.
pub const REQUEST_DURATION: &str = "natsapi_request_duration_seconds";
/// Requests being handled now.
pub const IN_FLIGHT: &str = "natsapi_requests_in_flight";
/// Requests that could not be answered (no reply subject, publish failed).
pub const UNANSWERED: &str = "natsapi_requests_unanswered_total";
/// Slow-consumer events reported by the NATS client: messages were dropped.
pub const SLOW_CONSUMER: &str = "natsapi_nats_slow_consumer_total";
/// NATS connection events, by `event`.
pub const NATS_EVENTS: &str = "natsapi_nats_events_total";
/// Promises the timeout timer completed (lazy timeouts on access are not counted).
pub const PROMISES_TIMED_OUT: &str = "natsapi_promises_timed_out_total";
/// Task messages sent, by `transport` (`nats`, `http`, `poll`, or `unresolved` when the recv
/// names no destination) and `outcome` (`ok`, `timeout`, `error`).
pub const TASK_DELIVERIES: &str = "natsapi_task_deliveries_total";
/// HTTP connections answered `503` at once because their listener was at its connection cap.
pub const HTTP_CONNECTIONS_REFUSED: &str = "natsapi_http_connections_refused_total";

/// Latency buckets in seconds: 50 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// The handle that renders the process's metrics, installing the recorder on first use.
/// `None` when another recorder was installed first (metrics are then not rendered here).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), BUCKETS)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    register_process_series();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder already installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "Requests answered, by transport, operation and status.");
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from receipt to reply."
    );
    metrics::describe_gauge!(IN_FLIGHT, "Requests being handled now.");
    metrics::describe_counter!(UNANSWERED, "Requests that could not be answered.");
    metrics::describe_counter!(SLOW_CONSUMER, "NATS slow-consumer events (messages dropped).");
    metrics::describe_counter!(NATS_EVENTS, "NATS connection events, by event.");
    metrics::describe_counter!(PROMISES_TIMED_OUT, "Promises completed by the timeout timer.");
    metrics::describe_counter!(TASK_DELIVERIES, "Task messages sent, by transport and outcome.");
    metrics::describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "HTTP connections answered 503 at once because their listener was at its connection cap."
    );
}

/// Why a request could not be answered: the `reason` of [`UNANSWERED`].
pub const UNANSWERED_REASONS: [&str; 2] = ["no_reply_subject", "publish_failed"];

/// The `event` of [`NATS_EVENTS`]: the NATS client's connection events.
pub const NATS_EVENT_NAMES: [&str; 8] = [
    "connected",
    "disconnected",
    "lame_duck",
    "draining",
    "closed",
    "slow_consumer",
    "server_error",
    "client_error",
];

/// The `event` label of a NATS connection event: one of [`NATS_EVENT_NAMES`].
pub fn nats_event_name(event: &async_nats::Event) -> &'static str {
    let index = match event {
        async_nats::Event::Connected => 0,
        async_nats::Event::Disconnected => 1,
        async_nats::Event::LameDuckMode => 2,
        async_nats::Event::Draining => 3,
        async_nats::Event::Closed => 4,
        async_nats::Event::SlowConsumer(_) => 5,
        async_nats::Event::ServerError(_) => 6,
        async_nats::Event::ClientError(_) => 7,
    };
    NATS_EVENT_NAMES[index]
}

/// The `transport` and `outcome` pairs of [`TASK_DELIVERIES`] a delivery can end in: a poll
/// delivery cannot time out (it is handed to a connection's queue at once), and a recv that
/// names no destination is always an error.
pub const TASK_DELIVERY_SERIES: [(&str, &str); 9] = [
    ("nats", "ok"),
    ("nats", "timeout"),
    ("nats", "error"),
    ("http", "ok"),
    ("http", "timeout"),
    ("http", "error"),
    ("poll", "ok"),
    ("poll", "error"),
    ("unresolved", "error"),
];

/// Registers, at zero, the series that do not belong to one transport, so that a scrape shows
/// them from the start and not only once they first count.
fn register_process_series() {
    metrics::counter!(SLOW_CONSUMER).absolute(0);
    metrics::counter!(PROMISES_TIMED_OUT).absolute(0);
    metrics::counter!(HTTP_CONNECTIONS_REFUSED).absolute(0);
    for reason in UNANSWERED_REASONS {
        metrics::counter!(UNANSWERED, "reason" => reason).absolute(0);
    }
    for event in NATS_EVENT_NAMES {
        metrics::counter!(NATS_EVENTS, "event" => event).absolute(0);
    }
    for (transport, outcome) in TASK_DELIVERY_SERIES {
        metrics::counter!(TASK_DELIVERIES, "transport" => transport, "outcome" => outcome)
            .absolute(0);
    }
}

/// Registers every series the server can report, at zero: those of the process, the HTTP
/// transport's, and the NATS transport's when `nats` (the NATS API is on). The HTTP listener,
/// which serves `/metrics`, calls it when it starts.
pub fn register(nats: bool) {
    handle();
    if nats {
        self::nats();
    }
    http();
}

/// The current metrics in Prometheus text format.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// The statuses every operation can answer: bad input (400), a store failure (500), and a store
/// that is shutting down or overloaded (503).
const ANY_OPERATION: [u16; 3] = [400, 500, 503];

/// The statuses `operation` answers besides [`ANY_OPERATION`]: those of the README's operation
/// table, and 412 for the writes that take a fence (create, complete, callback). Their request
/// counters are registered up front; a status not listed here is registered when it first
/// happens, so a series exists only for what an operation can answer.
fn statuses_of(operation: &str) -> &'static [u16] {
    match operation {
        "promises.read" | "schedules.read" => &[200, 404],
        "promises.search" | "schedules.search" | "tasks.heartbeat" | "locks.heartbeat" => &[200],
        "promises.create" => &[200, 201, 409, 412],
        "promises.complete" => &[200, 201, 403, 404, 412],
        "promises.createtask" | "schedules.create" => &[200, 201, 409],
        "promises.callback" => &[200, 201, 404, 412],
        "promises.subscribe" => &[200, 201, 404],
        "tasks.claim" => &[201, 403, 404],
        "tasks.complete" | "tasks.drop" => &[200, 201, 403, 404],
        "schedules.delete" | "locks.release" => &[204, 404],
        "locks.acquire" => &[201, 403],
        _ => &[],
    }
}

/// Which operation a request asked for, for its metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationLabel {
    /// The operation at this position of the operation table.
    Known(usize),
    /// A well-formed request naming no known operation.
    Unknown,
    /// A request that could not be decoded.
    Invalid,
}

impl OperationLabel {
    fn name(self) -> &'static str {
        match self {
            OperationLabel::Known(i) => OPERATIONS.get(i).map_or("unknown", |(name, _)| name),
            OperationLabel::Unknown => "unknown",
            OperationLabel::Invalid => "invalid",
        }
    }

    fn slot(self) -> usize {
        match self {
            OperationLabel::Known(i) => i.min(OPERATIONS.len()),
            OperationLabel::Unknown => OPERATIONS.len(),
            OperationLabel::Invalid => OPERATIONS.len() + 1,
        }
    }

    /// The statuses a request with this label can be answered with: an unknown operation or an
    /// undecodable request only with 400.
    fn statuses(self) -> Vec<u16> {
        match self {
            OperationLabel::Known(_) => {
                let mut all: Vec<u16> =
                    statuses_of(self.name()).iter().chain(&ANY_OPERATION).copied().collect();
                all.sort_unstable();
                all
            }
            OperationLabel::Unknown | OperationLabel::Invalid => vec![400],
        }
    }
}

struct OperationMetrics {
    duration: Histogram,
    /// The request counter of each status the operation can answer.
    requests: Vec<(u16, Counter)>,
}

/// Metric handles of one transport, registered once so the request path does no label lookups.
pub struct TransportMetrics {
    transport: &'static str,
    /// Indexed by [`OperationLabel::slot`]; a transport that never sees some labels (HTTP routes
    /// always name a known operation) has no entry for them.
    operations: Vec<OperationMetrics>,
    in_flight: Gauge,
}

impl TransportMetrics {
    fn new(transport: &'static str, labels: impl Iterator<Item = OperationLabel>) -> Self {
        let operations = labels
            .map(|label| {
                let operation = label.name();
                OperationMetrics {
                    duration: metrics::histogram!(
                        REQUEST_DURATION, "transport" => transport, "operation" => operation
                    ),
                    requests: label
                        .statuses()
                        .into_iter()
                        .map(|status| {
                            let counter = metrics::counter!(REQUESTS, "transport" => transport,
                                "operation" => operation, "status" => status.to_string());
                            (status, counter)
                        })
                        .collect(),
                }
            })
            .collect();
        TransportMetrics { transport, operations, in_flight: metrics::gauge!(IN_FLIGHT) }
    }

    /// The gauge of requests in flight.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// Counts one answered request and its duration.
    pub fn record(&self, operation: OperationLabel, status: u16, elapsed: Duration) {
        let (transport, name) = (self.transport, operation.name());
        let Some(slot) = self.operations.get(operation.slot()) else {
            metrics::histogram!(REQUEST_DURATION, "transport" => transport, "operation" => name)
                .record(elapsed.as_secs_f64());
            metrics::counter!(REQUESTS, "transport" => transport, "operation" => name,
                "status" => status.to_string())
            .increment(1);
            return;
        };
        slot.duration.record(elapsed.as_secs_f64());
        match slot.requests.iter().find(|(s, _)| *s == status) {
            Some((_, counter)) => counter.increment(1),
            None => metrics::counter!(REQUESTS, "transport" => transport,
                "operation" => name, "status" => status.to_string())
            .increment(1),
        }
    }
}

/// Every operation of the table, in order.
fn known_operations() -> impl Iterator<Item = OperationLabel> {
    (0..OPERATIONS.len()).map(OperationLabel::Known)
}

/// The NATS transport's metric handles.
pub fn nats() -> &'static TransportMetrics {
    static NATS: OnceLock<TransportMetrics> = OnceLock::new();
    NATS.get_or_init(|| {
        handle();
        let labels = known_operations().chain([OperationLabel::Unknown, OperationLabel::Invalid]);
        TransportMetrics::new("nats", labels)
    })
}

/// The HTTP transport's metric handles.
pub fn http() -> &'static TransportMetrics {
    static HTTP: OnceLock<TransportMetrics> = OnceLock::new();
    HTTP.get_or_init(|| {
        handle();
        TransportMetrics::new("http", known_operations())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_table_has_its_statuses() {
        for (name, _) in OPERATIONS {
            let statuses = statuses_of(name);
            assert!(!statuses.is_empty(), "{name} lists no status");
            assert!(statuses.iter().any(|s| (200..300).contains(s)), "{name} lists no success");
        }
    }
}
