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
}

/// The current metrics in Prometheus text format.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// Statuses with a pre-registered request counter; others are registered on first use.
const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 403, 404, 409, 412, 413, 500, 503];

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
}

struct OperationMetrics {
    duration: Histogram,
    requests: [Counter; STATUSES.len()],
}

/// Metric handles of one transport, registered once so the request path does no label lookups.
pub struct TransportMetrics {
    transport: &'static str,
    operations: Vec<OperationMetrics>,
    in_flight: Gauge,
}

impl TransportMetrics {
    fn new(transport: &'static str) -> Self {
        let labels = (0..OPERATIONS.len())
            .map(OperationLabel::Known)
            .chain([OperationLabel::Unknown, OperationLabel::Invalid]);
        let operations = labels
            .map(|label| {
                let operation = label.name();
                OperationMetrics {
                    duration: metrics::histogram!(
                        REQUEST_DURATION, "transport" => transport, "operation" => operation
                    ),
                    requests: STATUSES.map(|status| {
                        metrics::counter!(REQUESTS, "transport" => transport,
                            "operation" => operation, "status" => status.to_string())
                    }),
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
        let Some(slot) = self.operations.get(operation.slot()) else { return };
        slot.duration.record(elapsed.as_secs_f64());
        match STATUSES.iter().position(|&s| s == status) {
            Some(i) => slot.requests[i].increment(1),
            None => metrics::counter!(REQUESTS, "transport" => self.transport,
                "operation" => operation.name(), "status" => status.to_string())
            .increment(1),
        }
    }
}

/// The NATS transport's metric handles.
pub fn nats() -> &'static TransportMetrics {
    static NATS: OnceLock<TransportMetrics> = OnceLock::new();
    NATS.get_or_init(|| {
        handle();
        TransportMetrics::new("nats")
    })
}

/// The HTTP transport's metric handles.
pub fn http() -> &'static TransportMetrics {
    static HTTP: OnceLock<TransportMetrics> = OnceLock::new();
    HTTP.get_or_init(|| {
        handle();
        TransportMetrics::new("http")
    })
}
