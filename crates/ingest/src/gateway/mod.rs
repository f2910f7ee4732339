//! The ingest gateway: HTTP in, JetStream out. A message is answered 202 only after JetStream has
//! acknowledged storing it, and its status row exists before it is published, so a worker can
//! never process a message whose row is still to come. The row is the message's one row in the
//! store's `messages` table, which the worker then moves on (see [`crate::db`]).

mod batch;
mod error;
mod health;
mod message;
mod node;
mod op;
mod op_status;
mod ops;
mod publish;
mod query;
mod signed;
mod status;
mod store;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use natsapi_core::Clock;
use natsapi_store::Store;

use crate::error::IngestError;
use crate::rpc::RpcSettings;
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
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            max_message_bytes: 1 << 20,
            max_batch_bytes: 64 << 20,
            max_batch_lines: 100_000,
            publish_window: 256,
            publish_timeout: Duration::from_secs(5),
        }
    }
}

/// What the handlers share.
struct Shared {
    nats: async_nats::Client,
    js: jetstream::Context,
    /// The store holding the `messages` table.
    store: Store,
    streams: StreamSettings,
    settings: GatewaySettings,
    clock: Arc<dyn Clock>,
    /// Signed calls: their methods, stream and limits.
    rpc: RpcSettings,
    /// Signs the answers of `POST /query`.
    node_key: natsapi_rpc::SecretKey,
}

/// A running gateway's state; [`Gateway::router`] serves it.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    singles: store::Coalescer,
}

impl Gateway {
    /// Creates (or checks) the streams (the message streams and the call streams), loads (or
    /// makes) the node key, and returns the gateway, which records the messages and calls it
    /// accepts in `store` (shared with a worker of the same process, if any). `nats` should be a
    /// connection of its own: heavy publishing starves a consumer on the same connection.
    pub async fn start(
        nats: async_nats::Client,
        store: Store,
        streams: StreamSettings,
        settings: GatewaySettings,
        rpc: RpcSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, IngestError> {
        let js = jetstream::ContextBuilder::new()
            .timeout(settings.publish_timeout)
            .max_ack_inflight(settings.publish_window.max(1) * 16)
            .build(nats.clone());
        ensure_streams(&js, &streams).await?;
        ensure_streams(&js, &rpc.streams).await?;
        let node_key = crate::rpc::node_key::load(&store).await?;
        let shared = Arc::new(Shared { nats, js, store, streams, settings, clock, rpc, node_key });
        let singles = store::Coalescer::start(Arc::clone(&shared));
        Ok(Gateway { shared, singles })
    }

    /// The routes: `POST /ingest/message`, `POST /ingest/batch`, `GET /ingest/status/{id}`,
    /// the signed calls' `POST /op` (also `/clusterizer/op`), `GET /op/status/{wallet}/{id}`,
    /// `GET /op/methods`, `POST /query` (also `/clusterizer/query`) and `GET /clusterizer`, and
    /// `GET /health` and `GET /ready` (the same answer).
    pub fn router(&self) -> Router {
        let settings = &self.shared.settings;
        let calls = DefaultBodyLimit::max(self.shared.rpc.max_call_bytes);
        Router::new()
            .route("/op", post(op::accept).layer(calls))
            .route("/clusterizer/op", post(op::accept).layer(calls))
            .route("/op/status/{wallet}/{*id}", get(op_status::show))
            .route("/op/methods", get(node::methods))
            .route("/query", post(query::answer).layer(calls))
            .route("/clusterizer/query", post(query::answer).layer(calls))
            .route("/clusterizer", get(node::identity))
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
