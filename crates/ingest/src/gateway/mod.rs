//! The ingest gateway: HTTP in, JetStream out. A message is answered 202 only after JetStream has
//! acknowledged storing it, and its status row exists before it is published, so a worker can
//! never process a message whose row is still to come.

mod batch;
mod error;
mod health;
mod message;
mod prune;
mod publish;
mod status;
mod store;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use natsapi_core::Clock;

use crate::db::{DbSettings, IngestDb, ReadOnlyDb, gateway_path};
use crate::error::IngestError;
use crate::stream::{StreamSettings, ensure_streams};

pub use error::GatewayError;

/// Limits of the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// Largest body of `POST /ingest/message`, in bytes.
    pub max_message_bytes: usize,
    /// Largest body of `POST /ingest/batch`, in bytes.
    pub max_batch_bytes: usize,
    /// Most lines in one batch.
    pub max_batch_lines: usize,
    /// Most JetStream acknowledgements a batch waits for at once.
    pub publish_window: usize,
    /// How long a publish waits for JetStream's acknowledgement before the request fails.
    pub publish_timeout: Duration,
    /// How often the gateway deletes its rows of messages a worker has recorded; `None` never
    /// (then only [`Gateway::prune`] does).
    pub prune_interval: Option<Duration>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            max_message_bytes: 1 << 20,
            max_batch_bytes: 64 << 20,
            max_batch_lines: 100_000,
            publish_window: 256,
            publish_timeout: Duration::from_secs(5),
            prune_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// What the handlers share.
struct Shared {
    nats: async_nats::Client,
    js: jetstream::Context,
    /// Where this gateway records what it accepted.
    db: IngestDb,
    /// The worker's data file, for statuses past `accepted`.
    data: ReadOnlyDb,
    streams: StreamSettings,
    settings: GatewaySettings,
    clock: Arc<dyn Clock>,
}

/// A running gateway's state; [`Gateway::router`] serves it.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    singles: store::Coalescer,
}

impl Gateway {
    /// Creates (or checks) the streams, opens the gateway's own file beside the worker's data file
    /// `data` ([`gateway_path`]), and returns the gateway. `nats` should be a connection of its
    /// own: heavy publishing starves a consumer on the same connection.
    pub async fn start(
        nats: async_nats::Client,
        data: &DbSettings,
        streams: StreamSettings,
        settings: GatewaySettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, IngestError> {
        let js = jetstream::ContextBuilder::new()
            .timeout(settings.publish_timeout)
            .max_ack_inflight(settings.publish_window.max(1) * 16)
            .build(nats.clone());
        ensure_streams(&js, &streams).await?;
        // The gateway's rows describe messages whose own durability is JetStream's, which by
        // default writes to the OS without syncing each message: so its rows need survive a crash
        // of the process (WAL, `NORMAL`), not a power cut. The worker's data file keeps the
        // configured durability; its row is the lasting status of every message.
        let db = IngestDb::open(&DbSettings {
            path: gateway_path(&data.path),
            durability: crate::db::Durability::Normal,
        })?;
        let data = ReadOnlyDb::new(data.path.clone());
        let shared = Arc::new(Shared { nats, js, db, data, streams, settings, clock });
        let singles = store::Coalescer::start(Arc::clone(&shared));
        if let Some(every) = shared.settings.prune_interval.filter(|every| !every.is_zero()) {
            prune::start(Arc::downgrade(&shared), every);
        }
        Ok(Gateway { shared, singles })
    }

    /// Deletes the gateway's rows of the messages a worker has recorded in the data file (the
    /// status endpoint reads those from the data file); answers how many went. The gateway does
    /// this every [`GatewaySettings::prune_interval`] by itself, a bounded part at a time.
    pub async fn prune(&self) -> Result<usize, IngestError> {
        prune::sweep_all(&self.shared).await
    }

    /// The routes: `POST /ingest/message`, `POST /ingest/batch`, `GET /ingest/status/{id}`,
    /// `GET /health` and `GET /ready` (the same answer).
    pub fn router(&self) -> Router {
        let settings = &self.shared.settings;
        Router::new()
            .route(
                "/ingest/message",
                post(message::ingest).layer(DefaultBodyLimit::max(settings.max_message_bytes)),
            )
            .route(
                "/ingest/batch",
                post(batch::ingest).layer(DefaultBodyLimit::max(settings.max_batch_bytes)),
            )
            .route("/ingest/status/{message_id}", get(status::show))
            .route("/health", get(health::health))
            .route("/ready", get(health::health))
            .with_state(self.clone())
    }
}
