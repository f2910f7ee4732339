//! The worker: a durable pull consumer with explicit ack on each lane's stream, the message
//! stream and the stream of signed calls (whose calls are verified again and recorded in
//! `rpclog` with their method's writes). Each batch of ready messages is marked `processing`
//! (not first deliveries when every handler is brief), applied in one store transaction (run
//! again without the messages that failed, when some do), and acknowledged only after that
//! transaction committed; up to four batches a lane are in flight. A stopping worker gives back
//! what it pulled but had not started. A failed message is retried with back-off; after `max_attempts` deliveries, or at once when it can never
//! succeed, it is published to the dead-letter stream (and that publish acknowledged) before the
//! original is acknowledged.
//!
//! The attempt limit is enforced here rather than with the consumer's `max_deliver`, which would
//! leave a message whose dead-letter publish failed unacknowledged and never delivered again.

mod apply;
mod batch;
mod dead_letter;
mod ops;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::stream::{FuturesUnordered, ReadyChunks};
use futures::{FutureExt, StreamExt};
use natsapi_store::{Store, StoreError};

use crate::error::IngestError;
use crate::handler::MessageHandler;
use crate::rpc::RpcSettings;
use crate::stream::{StreamSettings, ensure_streams};

/// How the worker consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// The durable consumer's name; workers with the same name share the messages.
    pub consumer: String,
    /// Most messages applied in one transaction.
    pub batch_size: usize,
    /// How long JetStream waits for an ack before redelivering; longer than any transaction.
    pub ack_wait: Duration,
    /// Deliveries before a message that keeps failing is dead-lettered.
    pub max_attempts: i64,
    /// Delay before the n-th retry (the last one repeats).
    pub retry_delays: Vec<Duration>,
    /// Most unacknowledged messages the consumer hands out.
    pub max_ack_pending: i64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            consumer: "natsapi-worker".into(),
            batch_size: 256,
            ack_wait: Duration::from_secs(30),
            max_attempts: 5,
            retry_delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
            max_ack_pending: 4096,
        }
    }
}

impl WorkerSettings {
    /// The delay before retrying a message delivered `attempts` times.
    pub fn retry_delay(&self, attempts: i64) -> Duration {
        let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(0);
        self.retry_delays
            .get(index)
            .or(self.retry_delays.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// What a worker works with.
pub(crate) struct Shared {
    pub js: jetstream::Context,
    pub store: Store,
    pub streams: StreamSettings,
    pub settings: WorkerSettings,
    pub handlers: Arc<[Arc<dyn MessageHandler>]>,
    /// Signed calls: their methods and streams.
    pub rpc: RpcSettings,
}

/// Which stream a message came from, which says how it is read and applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// The message stream: a [`crate::MessageEnvelope`], applied by the handlers.
    Messages,
    /// The call stream: a signed call, recorded in `rpclog` and applied by its method.
    Calls,
}

impl Shared {
    /// The streams of `lane`.
    pub(crate) fn streams(&self, lane: Lane) -> &StreamSettings {
        match lane {
            Lane::Messages => &self.streams,
            Lane::Calls => &self.rpc.streams,
        }
    }
}

/// A worker, ready to run.
pub struct Worker {
    shared: Arc<Shared>,
    /// The consumer of each lane.
    consumers: Vec<(Lane, consumer::PullConsumer)>,
}

impl Worker {
    /// Creates (or checks) the streams (messages and calls) and the durable consumer on each, and
    /// prepares the handlers' tables in `store` (shared with a gateway of the same process, if
    /// any). `nats` should be a connection of its own.
    pub async fn start(
        nats: async_nats::Client,
        store: Store,
        streams: StreamSettings,
        settings: WorkerSettings,
        handlers: Vec<Arc<dyn MessageHandler>>,
        rpc: RpcSettings,
    ) -> Result<Self, IngestError> {
        let js = jetstream::new(nats);
        ensure_streams(&js, &streams).await?;
        ensure_streams(&js, &rpc.streams).await?;
        let handlers: Arc<[Arc<dyn MessageHandler>]> = handlers.into();
        prepare(&store, &handlers).await?;
        let consumers = vec![
            (Lane::Messages, open_consumer(&js, &streams, &settings).await?),
            (Lane::Calls, open_consumer(&js, &rpc.streams, &settings).await?),
        ];
        let shared = Arc::new(Shared { js, store, streams, settings, handlers, rpc });
        Ok(Worker { shared, consumers })
    }

    /// Consumes every lane until `shutdown` resolves; the batches in progress are finished
    /// first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let shutdown = shutdown.shared();
        let lanes = self
            .consumers
            .iter()
            .map(|(lane, consumer)| consume(&self.shared, *lane, consumer, shutdown.clone()));
        futures::future::join_all(lanes).await;
    }
}

/// Consumes one lane's stream until `shutdown` resolves.
async fn consume(
    shared: &Arc<Shared>,
    lane: Lane,
    consumer: &consumer::PullConsumer,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let batch = shared.settings.batch_size.max(1);
    loop {
        let messages = consumer
            .stream()
            .max_messages_per_batch(batch * BATCHES_IN_FLIGHT)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let messages = match messages {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "cannot pull messages; retrying in 1 s");
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut chunks = messages.ready_chunks(batch);
        // Several batches in flight: while one waits for its commit, the next is marked
        // `processing` or applied, and the writer commits their work together.
        let mut inflight = FuturesUnordered::new();
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    // The batches in flight first: meanwhile, what the server had sent on
                    // its way arrives, and is given back with the rest.
                    while inflight.next().await.is_some() {}
                    hand_back(shared, chunks).await;
                    return;
                }
                Some(()) = inflight.next(), if !inflight.is_empty() => {}
                chunk = chunks.next(), if inflight.len() < BATCHES_IN_FLIGHT => {
                    let Some(chunk) = chunk else { break };
                    let mut ok = Vec::with_capacity(chunk.len());
                    let mut failed = None;
                    for item in chunk {
                        match item {
                            Ok(message) => ok.push(message),
                            Err(e) => failed = Some(e),
                        }
                    }
                    inflight.push(batch::process(shared, lane, ok));
                    if let Some(e) = failed {
                        tracing::warn!(error = %e, "the message stream failed; pulling again");
                        break;
                    }
                }
            }
        }
        while inflight.next().await.is_some() {}
    }
}

/// On shutdown: ends the pull and gives back the messages pulled but not yet started (a nak,
/// so that another worker gets them now rather than after `ack_wait`; it counts as a
/// delivery), then flushes. Best effort: a message the server sends while the pull ends
/// still waits for `ack_wait`.
async fn hand_back(shared: &Shared, mut chunks: ReadyChunks<consumer::pull::Stream>) {
    let mut pulled = Vec::new();
    while let Some(Some(chunk)) = chunks.next().now_or_never() {
        pulled.extend(chunk.into_iter().flatten());
    }
    drop(chunks);
    for message in pulled {
        if let Err(e) = message.ack_with(jetstream::AckKind::Nak(None)).await {
            tracing::warn!(error = %e, "cannot give a pulled message back");
        }
    }
    // When the server cannot be reached the naks stay unsent: those messages come back
    // after `ack_wait` instead, rather than the stop waiting for the server.
    natsapi_client::stopping::flush_if_connected(&shared.js.client(), "given-back messages").await;
}

/// Runs every handler's [`MessageHandler::prepare`] in one transaction. A handler's own error
/// (a mapped table with other columns) comes back as it was.
async fn prepare(
    store: &Store,
    handlers: &Arc<[Arc<dyn MessageHandler>]>,
) -> Result<(), IngestError> {
    let op = ops::Prepare { handlers: Arc::clone(handlers) };
    match crate::db::run(store, op).await {
        Err(IngestError::Store(StoreError::Tx(e))) => match e.0.downcast::<IngestError>() {
            Ok(own) => Err(*own),
            Err(other) => Err(IngestError::Sql(natsapi_core::TxError(other))),
        },
        other => other,
    }
}

/// Batches a worker processes at once.
const BATCHES_IN_FLIGHT: usize = 4;

/// Gets or creates the durable consumer; an existing one configured otherwise is an error.
async fn open_consumer(
    js: &jetstream::Context,
    streams: &StreamSettings,
    settings: &WorkerSettings,
) -> Result<consumer::PullConsumer, IngestError> {
    let stream = js
        .get_stream(&streams.name)
        .await
        .map_err(|e| IngestError::Stream(format!("cannot open stream {}: {e}", streams.name)))?;
    let want = consumer::pull::Config {
        durable_name: Some(settings.consumer.clone()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_deliver: -1,
        max_ack_pending: settings.max_ack_pending,
        filter_subject: format!("{}.>", streams.subject_prefix),
        ..Default::default()
    };
    let consumer: consumer::PullConsumer =
        stream.get_or_create_consumer(&settings.consumer, want.clone()).await.map_err(|e| {
            IngestError::Stream(format!("cannot create consumer {}: {e}", settings.consumer))
        })?;
    let have = &consumer.cached_info().config;
    let mut differences = Vec::new();
    if have.filter_subject != want.filter_subject {
        differences
            .push(format!("filter {:?} (want {:?})", have.filter_subject, want.filter_subject));
    }
    if have.ack_wait != want.ack_wait {
        differences.push(format!("ack_wait {:?} (want {:?})", have.ack_wait, want.ack_wait));
    }
    if have.max_deliver != want.max_deliver {
        differences.push(format!("max_deliver {} (want {})", have.max_deliver, want.max_deliver));
    }
    if !differences.is_empty() {
        return Err(IngestError::Stream(format!(
            "consumer {} exists with another configuration: {}; change the settings or delete \
             the consumer (nats consumer rm {} {})",
            settings.consumer,
            differences.join("; "),
            streams.name,
            settings.consumer
        )));
    }
    Ok(consumer)
}
