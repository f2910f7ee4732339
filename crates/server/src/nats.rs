//! The NATS transport: the API subject subscribed in a queue group, so instances share the load
//! and each request is answered once, plus the micro-service verbs (`$SRV.PING/INFO/STATS` find
//! every instance). Requests are handled concurrently up to a bound; replies carry the trace
//! headers; shutdown drains the subscription so requests already delivered are answered.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Message};
use futures::{FutureExt, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api::{Api, ApiError};
use crate::envelope;
use crate::metrics::{self as m, OperationLabel};
use crate::micro::{EndpointStats, MicroConfig, MicroService};
use crate::operations;
use crate::trace::TraceContext;

/// The micro-service name every instance registers.
pub const SERVICE_NAME: &str = "natsapi";

/// Settings of the NATS transport.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// Server URL(s), e.g. `nats://localhost:4222`.
    pub addr: String,
    /// The API subject.
    pub subject: String,
    /// The queue group instances share.
    pub queue_group: String,
    /// Largest request accepted, in bytes; larger ones get a 400.
    pub max_payload: usize,
    /// Most requests handled at once.
    pub max_inflight: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// Credentials and TLS of the connection (also used for task delivery).
    pub connection: natsapi_client::ConnectionSettings,
}

/// Errors starting the NATS transport.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The connection settings cannot be used (a file is missing or invalid).
    #[error("NATS connection settings: {0}")]
    Settings(#[source] natsapi_client::SettingsError),
    /// The server could not be reached.
    #[error("cannot connect to NATS at {addr}: {source}")]
    Connect {
        /// The address tried, password or token hidden.
        addr: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// The micro service or its endpoint could not be registered.
    #[error("cannot register the natsapi service on {subject}: {message}")]
    Service {
        /// The API subject.
        subject: String,
        /// Why.
        message: String,
    },
}

/// Largest accepted `max_inflight` (a semaphore's permits must stay well within its limits).
pub const MAX_INFLIGHT_LIMIT: usize = 1 << 16;

/// A running NATS transport.
pub struct NatsTransport {
    client: async_nats::Client,
    micro: Option<MicroService>,
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
    inflight: Arc<Semaphore>,
    permits: u32,
    drain_timeout: Duration,
}

/// Most messages a subscription holds before the client drops new ones as a slow consumer
/// (counted in `natsapi_nats_slow_consumer_total`): eight times the default number of requests
/// handled at once, and above the worker's pull (4 batches of 256) and the gateway's
/// acknowledgements in flight (4,096). async-nats' default, 65,536, lets a burst of large
/// requests queue gigabytes.
pub const SUBSCRIPTION_CAPACITY: usize = 8192;

/// Connects to NATS with the credentials and TLS of `settings`, as client `name` (what the
/// server's monitoring shows), logging connection events and counting slow-consumer drops. Every
/// long-lived connection of natsapi (the API, the ingest gateway, the worker) is made here.
pub async fn connect(
    addr: &str,
    settings: &natsapi_client::ConnectionSettings,
    name: &str,
) -> Result<async_nats::Client, NatsError> {
    settings
        .connect_options(addr)
        .map_err(NatsError::Settings)?
        .name(name)
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .event_callback({
            let connection: Arc<str> = Arc::from(name);
            move |event| {
                let connection = connection.clone();
                async move { on_event(&connection, event) }
            }
        })
        .connect(addr)
        .await
        .map_err(|source| NatsError::Connect {
            addr: natsapi_client::connection::redact_addr(addr),
            source,
        })
}

/// Counts and logs an event of the connection named `connection`.
fn on_event(connection: &str, event: async_nats::Event) {
    let name = m::nats_event_name(&event);
    metrics::counter!(m::NATS_EVENTS, "event" => name).increment(1);
    match event {
        async_nats::Event::SlowConsumer(sid) => {
            metrics::counter!(m::SLOW_CONSUMER).increment(1);
            tracing::warn!(connection, sid, "NATS slow consumer: messages were dropped");
        }
        async_nats::Event::Connected => tracing::info!(connection, "NATS connected"),
        async_nats::Event::Closed | async_nats::Event::Draining => {
            tracing::info!(connection, event = name, "NATS connection closing");
        }
        other => tracing::warn!(connection, event = %other, "NATS connection event"),
    }
}

impl NatsTransport {
    /// Registers the micro service and starts answering requests on `config.subject`.
    pub async fn start(
        api: Api,
        client: async_nats::Client,
        config: NatsConfig,
    ) -> Result<Self, NatsError> {
        let service_err =
            |message: String| NatsError::Service { subject: config.subject.clone(), message };
        let micro = MicroService::start(
            client.clone(),
            MicroConfig {
                name: SERVICE_NAME.into(),
                version: env!("CARGO_PKG_VERSION").into(),
                description: "Durable promises over NATS request-reply (Resonate v0.7 semantics)"
                    .into(),
                endpoint_name: "api".into(),
                subject: config.subject.clone(),
                queue_group: config.queue_group.clone(),
                ..MicroConfig::default()
            },
        )
        .await
        .map_err(|e| service_err(e.to_string()))?;
        let requests = client
            .queue_subscribe(config.subject.clone(), config.queue_group.clone())
            .await
            .map_err(|e| service_err(e.to_string()))?;
        client.flush().await.map_err(|e| service_err(e.to_string()))?;
        let max_inflight = config.max_inflight.clamp(1, MAX_INFLIGHT_LIMIT);
        let inflight = Arc::new(Semaphore::new(max_inflight));
        let context = Arc::new(RequestContext {
            api,
            client: client.clone(),
            stats: micro.stats(),
            max_payload: config.max_payload,
            reply_limit: client.server_info().max_payload,
        });
        let (stop, stopped) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(context, requests, inflight.clone(), stopped));
        tracing::debug!(subject = %config.subject, queue_group = %config.queue_group, "NATS API subscribed");
        Ok(NatsTransport {
            client,
            micro: Some(micro),
            stop,
            accept,
            inflight,
            permits: u32::try_from(max_inflight).unwrap_or(u32::MAX),
            drain_timeout: config.drain_timeout,
        })
    }

    /// The connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Stops taking requests: the subscription is drained, so NATS routes new requests to the
    /// other instances while those already delivered here are still answered. Returns at once;
    /// [`finish`](Self::finish) waits for the requests in flight.
    pub fn stop_accepting(&self) {
        self.stop.send_replace(true);
    }

    /// Stops taking requests (see [`stop_accepting`](Self::stop_accepting)), waits up to the
    /// drain timeout for the requests in flight and the micro service, and flushes the replies.
    /// Never waits on a NATS server that cannot be reached: the flush is skipped then, and the
    /// requests already received are answered into the client's buffer.
    pub async fn finish(mut self) {
        self.stop_accepting();
        let micro = self.micro.take();
        let drained = tokio::time::timeout(self.drain_timeout, async {
            let micro = async {
                if let Some(micro) = micro {
                    micro.stop().await;
                }
            };
            let requests = async {
                let _ = (&mut self.accept).await;
                let _ = self.inflight.acquire_many(self.permits).await;
            };
            futures::join!(micro, requests);
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?self.drain_timeout, "NATS drain timed out with requests in flight");
            self.accept.abort();
        }
        flush_if_connected(&self.client, "replies").await;
    }
}

pub use natsapi_client::stopping::{flush_if_connected, is_connected};

/// What every request handler needs.
struct RequestContext {
    api: Api,
    client: async_nats::Client,
    stats: Arc<EndpointStats>,
    max_payload: usize,
    /// The NATS server's max payload when the transport started: the largest reply.
    reply_limit: usize,
}

/// How the accept loop is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopping {
    /// It is not.
    No,
    /// The subscription is draining through the server.
    Draining,
    /// The server is unreachable: only what has already arrived is answered.
    Locally,
}

/// Stops taking requests from `requests`: a drain through the server (NATS routes new requests
/// to the other members of the queue group) when connected, else only what has arrived.
async fn stop_taking(
    requests: &mut async_nats::Subscriber,
    client: &async_nats::Client,
) -> Stopping {
    if !is_connected(client) {
        // A drain ends when the server confirms it, which it cannot now.
        return Stopping::Locally;
    }
    if let Err(e) = requests.drain().await {
        tracing::warn!(error = %e, "cannot drain the API subscription");
    }
    Stopping::Draining
}

/// How often a draining accept loop checks that the connection is still there.
const DRAIN_CHECK: Duration = Duration::from_millis(100);

/// Most requests taken from the subscription at once.
const MAX_BATCH: usize = 256;

/// Reads requests and serves them, until the subscription ends. Requests are taken in batches of
/// whatever has arrived; each is run at once, and only one that has to wait (for a commit, or a
/// store's reader thread) gets its own task, so a request answered at once costs no task, and a
/// batch's requests reach the store back to back, where its threads take them together. When `stop` turns true it drains the subscription: NATS stops routing requests
/// here, and those already delivered are still read and answered. When the connection is down
/// at that moment, it answers what the client has already received and ends.
async fn accept_loop(
    context: Arc<RequestContext>,
    mut requests: async_nats::Subscriber,
    inflight: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let max_batch = MAX_BATCH.min(inflight.available_permits()).max(1);
    let mut stopping = Stopping::No;
    loop {
        let message = match stopping {
            Stopping::Draining => tokio::select! {
                message = requests.next() => message,
                // The drain ends when the server confirms it: not if the connection went away.
                () = tokio::time::sleep(DRAIN_CHECK) => {
                    if !is_connected(&context.client) {
                        stopping = Stopping::Locally;
                    }
                    continue;
                }
            },
            // The requests this client has already received, and no more.
            Stopping::Locally => requests.next().now_or_never().flatten(),
            Stopping::No => tokio::select! {
                message = requests.next() => message,
                // Only shutdown changes it (or drops the sender): either way, stop.
                _ = stop.changed() => {
                    stopping = stop_taking(&mut requests, &context.client).await;
                    continue;
                }
            },
        };
        let Some(message) = message else { break };
        // Waiting here is the backpressure: requests queue in the subscription meanwhile. A
        // stop still drains the subscription at once, so NATS sends new requests elsewhere.
        let permits = loop {
            if stopping != Stopping::No {
                break inflight.clone().acquire_owned().await;
            }
            tokio::select! {
                permits = inflight.clone().acquire_owned() => break permits,
                _ = stop.changed() => {
                    stopping = stop_taking(&mut requests, &context.client).await;
                }
            }
        };
        let Ok(mut permits) = permits else { break };
        // Take what else has arrived, as far as free permits go.
        let mut batch = vec![message];
        while batch.len() < max_batch {
            let Ok(permit) = inflight.clone().try_acquire_owned() else { break };
            match requests.next().now_or_never() {
                Some(Some(message)) => {
                    batch.push(message);
                    permits.merge(permit);
                }
                _ => break,
            }
        }
        std::future::poll_fn(|cx| {
            for message in batch.drain(..) {
                let Some(permit) = permits.split(1) else { break };
                let context = context.clone();
                // Boxed: the request future is a few KiB, and a task would otherwise copy
                // it on spawn and again when it completes. Unconstrained: Tokio's
                // cooperative budget is per task, and the whole batch runs in this one;
                // the budget would make the later requests of a batch yield for no reason.
                let mut request = Box::pin(tokio::task::unconstrained(async move {
                    serve(&context, message).await;
                    drop(permit);
                }));
                // `serve` turns a panic in a handler into an error reply; this guards the
                // loop against one in the reply path itself.
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    request.as_mut().poll(cx).is_pending()
                }));
                match polled {
                    Ok(true) => {
                        tokio::spawn(request);
                    }
                    Ok(false) => {}
                    Err(_) => tracing::error!("a request panicked outside its handler"),
                }
            }
            std::task::Poll::Ready(())
        })
        .await;
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message.headers.as_ref()?.get(name).map(|v| v.as_str())
}

/// A computed reply: its status, body and trace context.
struct Answer {
    request_id: String,
    label: OperationLabel,
    status: u16,
    error: Option<String>,
    body: Vec<u8>,
    trace: TraceContext,
}

/// Decodes and runs one request. Every failure becomes an error reply.
async fn answer(api: &Api, message: &Message, max_payload: usize) -> Answer {
    let decoded = if message.payload.len() > max_payload {
        Err(ApiError::bad_request(format!(
            "request is {} bytes, over the maximum of {max_payload}",
            message.payload.len()
        )))
    } else {
        envelope::decode(&message.payload)
    };
    let (request_id, label, trace, result) = match decoded {
        Err(e) => {
            (nuid::next().to_string(), OperationLabel::Invalid, trace_of(message, None), Err(e))
        }
        Ok(env) => {
            let request_id = env.request_id.clone().unwrap_or_else(|| nuid::next().to_string());
            let label = operations::position(&env.operation)
                .map_or(OperationLabel::Unknown, OperationLabel::Known);
            let trace = trace_of(message, env.metadata.as_ref());
            let span = tracing::debug_span!(
                "request",
                operation = %env.operation,
                request_id = %request_id,
                trace_id = trace.trace_id().unwrap_or(""),
            );
            let result = crate::trace::scope(
                trace.clone(),
                operations::dispatch(api, &env.operation, env.payload),
            )
            .instrument(span)
            .await;
            (request_id, label, trace, result)
        }
    };
    match result {
        Ok(response) => Answer {
            body: envelope::success(&request_id, &response),
            request_id,
            label,
            status: response.status,
            error: None,
            trace,
        },
        Err(error) => Answer::failed(request_id, label, trace, &error),
    }
}

impl Answer {
    /// The error reply for `error`.
    fn failed(
        request_id: String,
        label: OperationLabel,
        trace: TraceContext,
        error: &ApiError,
    ) -> Answer {
        Answer {
            body: envelope::failure(&request_id, error),
            request_id,
            label,
            status: error.status(),
            error: Some(format!("{}:{}", error.status(), error.message)),
            trace,
        }
    }
}

/// An error reply for a request whose answer could not be built or sent as computed.
fn fallback(
    request_id: String,
    label: OperationLabel,
    trace: TraceContext,
    message: String,
) -> Answer {
    let error = ApiError { code: natsapi_core::Code::StoreError, message };
    Answer::failed(request_id, label, trace, &error)
}

/// Bytes the NATS headers of a reply take on the wire (`NATS/1.0`, each `name: value`, CRLFs).
fn headers_len(trace: &TraceContext) -> usize {
    let line = |name: &str, value: &Option<String>| {
        value.as_ref().map_or(0, |v| name.len() + 2 + v.len() + 2)
    };
    let lines = line("traceparent", &trace.traceparent) + line("tracestate", &trace.tracestate);
    if lines == 0 { 0 } else { "NATS/1.0\r\n\r\n".len() + lines }
}

/// Serves one request. Never panics and never leaves a request with a reply subject unanswered:
/// a panic in the handler and a reply too large for NATS both become error replies.
async fn serve(context: &RequestContext, message: Message) {
    let started = Instant::now();
    let Some(reply) = message.reply.clone() else {
        metrics::counter!(m::UNANSWERED, "reason" => "no_reply_subject").increment(1);
        tracing::debug!(subject = %message.subject, "request without reply subject ignored");
        return;
    };
    let recorder = m::nats();
    let _in_flight = InFlight::enter(recorder);
    let computed =
        AssertUnwindSafe(answer(&context.api, &message, context.max_payload)).catch_unwind().await;
    let mut answer = computed.unwrap_or_else(|panic| {
        tracing::error!(panic = %natsapi_store::panic_message(panic.as_ref()), "request handler panicked");
        let request_id = envelope::decode(&message.payload)
            .ok()
            .and_then(|env| env.request_id)
            .unwrap_or_else(|| nuid::next().to_string());
        fallback(request_id, OperationLabel::Invalid, trace_of(&message, None), "internal error".into())
    });
    let limit = context.reply_limit;
    if answer.body.len() + headers_len(&answer.trace) > limit {
        // The trace state is optional: drop it before giving up on the reply.
        answer.trace.tracestate = None;
    }
    if answer.body.len() + headers_len(&answer.trace) > limit {
        let text = format!(
            "reply of {} bytes exceeds the NATS maximum payload of {limit} bytes",
            answer.body.len()
        );
        tracing::error!(%text);
        answer = fallback(answer.request_id, answer.label, answer.trace, text);
    }
    let mut headers = HeaderMap::new();
    if let Some(tp) = &answer.trace.traceparent {
        headers.insert("traceparent", tp.as_str());
    }
    if let Some(ts) = &answer.trace.tracestate {
        headers.insert("tracestate", ts.as_str());
    }
    let sent = if headers.is_empty() {
        context.client.publish(reply, answer.body.into()).await
    } else {
        context.client.publish_with_headers(reply, headers, answer.body.into()).await
    };
    if let Err(e) = sent {
        metrics::counter!(m::UNANSWERED, "reason" => "publish_failed").increment(1);
        tracing::warn!(error = %e, "reply could not be sent");
    }
    let elapsed = started.elapsed();
    recorder.record(answer.label, answer.status, elapsed);
    context.stats.record(elapsed, answer.error.as_deref());
}

/// Counts a request in flight for as long as it lives, whatever way the request ends.
struct InFlight(&'static m::TransportMetrics);

impl InFlight {
    fn enter(metrics: &'static m::TransportMetrics) -> Self {
        metrics.in_flight().increment(1.0);
        InFlight(metrics)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight().decrement(1.0);
    }
}

/// Trace context from the message headers, else from the envelope's metadata.
fn trace_of(
    message: &Message,
    metadata: Option<&std::collections::HashMap<String, String>>,
) -> TraceContext {
    let from_headers = TraceContext::from_lookup(|name| header(message, name));
    if !from_headers.is_empty() {
        return from_headers;
    }
    match metadata {
        Some(meta) => TraceContext::from_lookup(|name| meta.get(name).map(String::as_str)),
        None => TraceContext::default(),
    }
}
