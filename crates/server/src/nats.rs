//! The NATS transport: a micro service (`$SRV.PING/INFO/STATS` find every instance) with one
//! endpoint on the API subject in a queue group, so instances share the load and each request is
//! answered once. Requests are handled concurrently up to a bound; replies carry the trace headers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::service::{self, ServiceExt};
use async_nats::{HeaderMap, Message};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api::{Api, ApiError};
use crate::envelope;
use crate::metrics::{self as m, OperationLabel};
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
}

/// Errors starting the NATS transport.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The server could not be reached.
    #[error("cannot connect to NATS at {addr}: {source}")]
    Connect {
        /// The address tried.
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

/// A running NATS transport.
pub struct NatsTransport {
    client: async_nats::Client,
    service: Option<service::Service>,
    accept: JoinHandle<()>,
    inflight: Arc<Semaphore>,
    config: NatsConfig,
}

/// Connects to NATS, logging connection events and counting slow-consumer drops.
pub async fn connect(addr: &str) -> Result<async_nats::Client, NatsError> {
    async_nats::ConnectOptions::new()
        .name("natsapi")
        .event_callback(|event| async move {
            let name = match &event {
                async_nats::Event::Connected => "connected",
                async_nats::Event::Disconnected => "disconnected",
                async_nats::Event::LameDuckMode => "lame_duck",
                async_nats::Event::Draining => "draining",
                async_nats::Event::Closed => "closed",
                async_nats::Event::SlowConsumer(_) => "slow_consumer",
                async_nats::Event::ServerError(_) => "server_error",
                async_nats::Event::ClientError(_) => "client_error",
            };
            metrics::counter!(m::NATS_EVENTS, "event" => name).increment(1);
            match event {
                async_nats::Event::SlowConsumer(sid) => {
                    metrics::counter!(m::SLOW_CONSUMER).increment(1);
                    tracing::warn!(sid, "NATS slow consumer: requests were dropped");
                }
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                async_nats::Event::Closed | async_nats::Event::Draining => {
                    tracing::info!(event = name, "NATS connection closing");
                }
                other => tracing::warn!(event = %other, "NATS connection event"),
            }
        })
        .connect(addr)
        .await
        .map_err(|source| NatsError::Connect { addr: addr.to_owned(), source })
}

impl NatsTransport {
    /// Registers the service and starts answering requests on `config.subject`.
    pub async fn start(
        api: Api,
        client: async_nats::Client,
        config: NatsConfig,
    ) -> Result<Self, NatsError> {
        let service_err = |e: async_nats::Error| NatsError::Service {
            subject: config.subject.clone(),
            message: e.to_string(),
        };
        let service = client
            .service_builder()
            .description("Durable promises over NATS request-reply (Resonate v0.7 semantics)")
            .queue_group(&config.queue_group)
            .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
            .await
            .map_err(service_err)?;
        let endpoint = service
            .endpoint_builder()
            .name("api")
            .queue_group(&config.queue_group)
            .add(&config.subject)
            .await
            .map_err(service_err)?;
        client.flush().await.map_err(|e| service_err(e.into()))?;
        let inflight = Arc::new(Semaphore::new(config.max_inflight));
        let accept = tokio::spawn(accept_loop(api, endpoint, inflight.clone(), config.max_payload));
        tracing::info!(subject = %config.subject, queue_group = %config.queue_group, "NATS API ready");
        Ok(NatsTransport { client, service: Some(service), accept, inflight, config })
    }

    /// The connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Stops taking requests, answers those already received, and waits (up to the drain timeout)
    /// for requests in flight before flushing the replies.
    pub async fn shutdown(mut self) {
        if let Some(service) = self.service.take() {
            let _ = service.stop().await;
        }
        let permits = u32::try_from(self.config.max_inflight).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(self.config.drain_timeout, async {
            let _ = (&mut self.accept).await;
            let _ = self.inflight.acquire_many(permits).await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                timeout = ?self.config.drain_timeout,
                "NATS drain timed out with requests in flight"
            );
            self.accept.abort();
        }
        if let Err(e) = self.client.flush().await {
            tracing::warn!(error = %e, "NATS flush on shutdown failed");
        }
    }
}

async fn accept_loop(
    api: Api,
    mut endpoint: service::endpoint::Endpoint,
    inflight: Arc<Semaphore>,
    max_payload: usize,
) {
    while let Some(request) = endpoint.next().await {
        // Waiting here is the backpressure: requests queue in the subscription meanwhile.
        let Ok(permit) = inflight.clone().acquire_owned().await else { break };
        let api = api.clone();
        // Boxed: the request future is a few KiB, and a task would otherwise copy it on spawn
        // and again when it completes.
        tokio::spawn(Box::pin(async move {
            handle(&api, request, max_payload).await;
            drop(permit);
        }));
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message.headers.as_ref()?.get(name).map(|v| v.as_str())
}

/// Answers one request. Never panics on input; every request with a reply subject gets a reply.
async fn handle(api: &Api, request: service::Request, max_payload: usize) {
    let started = Instant::now();
    let message = &request.message;
    if message.reply.is_none() {
        metrics::counter!(m::UNANSWERED, "reason" => "no_reply_subject").increment(1);
        tracing::debug!(subject = %message.subject, "request without reply subject ignored");
        return;
    }
    let recorder = m::nats();
    recorder.in_flight().increment(1.0);
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
            let result =
                operations::dispatch(api, &env.operation, env.payload).instrument(span).await;
            (request_id, label, trace, result)
        }
    };
    let (status, body) = match &result {
        Ok(response) => (response.status, envelope::success(&request_id, response)),
        Err(error) => (error.status(), envelope::failure(&request_id, error)),
    };
    let mut headers = HeaderMap::new();
    if let Some(tp) = &trace.traceparent {
        headers.insert("traceparent", tp.as_str());
    }
    if let Some(ts) = &trace.tracestate {
        headers.insert("tracestate", ts.as_str());
    }
    if let Err(e) = request.respond_with_headers(Ok(body.into()), headers).await {
        metrics::counter!(m::UNANSWERED, "reason" => "publish_failed").increment(1);
        tracing::warn!(error = %e, request_id, "reply could not be sent");
    }
    recorder.record(label, status, started.elapsed());
    recorder.in_flight().decrement(1.0);
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
