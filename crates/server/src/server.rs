//! Starting and stopping a whole API server: store, timers, NATS and HTTP transports.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use natsapi_store::{Store, StoreConfig, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Api;
use crate::delivery::{Deliverer, DeliveryConfig, DeliveryError, Targets};
use crate::http::{self, HttpState};
use crate::nats::{self, NatsConfig, NatsError, NatsTransport};
use crate::poll::{self, Hub};
use crate::time::Time;
use crate::timer;

/// What to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The store to open.
    pub store: StoreConfig,
    /// The NATS API, when enabled.
    pub nats: Option<NatsConfig>,
    /// The HTTP listener address, when enabled (port 0 picks a free port).
    pub http: Option<String>,
    /// The SSE poll listener address (spec §9.3, `GET /<group>/<id>`), when enabled (port 0
    /// picks a free port). The same endpoint is served under `/poll` on the HTTP port.
    pub poll: Option<String>,
    /// Logical task receivers (YAML `targets:`): name → recv URL.
    pub targets: Targets,
    /// Credentials the HTTP API requires, if any.
    pub http_auth: Option<crate::http::auth::HttpAuth>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// NATS could not be reached or the service not registered.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// Task delivery could not be set up (a bad target, say).
    #[error("cannot set up task delivery: {0}")]
    Delivery(DeliveryError),
    /// The HTTP address could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Http {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The poll address could not be bound.
    #[error("cannot listen for poll connections on {addr}: {source}")]
    Poll {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A started server; call [`RunningServer::shutdown`] to stop it gracefully.
pub struct RunningServer {
    api: Api,
    nats: Option<NatsTransport>,
    http_addr: Option<SocketAddr>,
    http: Option<JoinHandle<()>>,
    poll_addr: Option<SocketAddr>,
    poll: Option<JoinHandle<()>>,
    poll_hub: Arc<Hub>,
    timers: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl RunningServer {
    /// Opens the store and starts the timers and the enabled transports.
    pub async fn start(config: ServerConfig, time: Time) -> Result<Self, ServerError> {
        crate::metrics::handle();
        let store = Store::open(&config.store, time.clock())?;
        let client = match &config.nats {
            Some(nats_config) => {
                Some(nats::connect(&nats_config.addr, &nats_config.connection).await?)
            }
            None => None,
        };
        // Replies travel in one NATS message: size limits come from the server's max payload.
        let limit = client.as_ref().map_or(usize::MAX, |c| c.server_info().max_payload);
        let api = Api::build(store, time, limit, config.targets.clone());
        let (stop, stopped) = watch::channel(false);
        let mut timers = vec![
            tokio::spawn(timer::run(api.clone(), timer::PromiseTimeouts, stopped.clone())),
            tokio::spawn(timer::run(api.clone(), timer::ScheduleFiring, stopped.clone())),
            tokio::spawn(timer::run(api.clone(), timer::LockExpiry, stopped.clone())),
        ];
        let poll_hub = Arc::new(Hub::default());
        if client.is_none() {
            tracing::warn!("NATS is disabled: tasks for nats:// receivers cannot be delivered");
        }
        let deliverer =
            Deliverer::new(client.clone(), config.targets.clone(), DeliveryConfig::default())
                .map_err(ServerError::Delivery)?;
        deliverer.register_poll_hub(poll_hub.clone());
        let work = timer::TaskWork::new(Arc::new(deliverer));
        timers.push(tokio::spawn(timer::run(api.clone(), work, stopped.clone())));
        let nats = match (client, config.nats) {
            (Some(client), Some(nats_config)) => {
                Some(NatsTransport::start(api.clone(), client, nats_config).await?)
            }
            _ => None,
        };

        let (http_addr, http) = match config.http {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|source| ServerError::Http { addr: addr.clone(), source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| ServerError::Http { addr: addr.clone(), source })?;
                let state = HttpState {
                    api: api.clone(),
                    nats: nats.as_ref().map(|n| n.client().clone()),
                    auth: config.http_auth.clone(),
                };
                let mut stopped = stopped.clone();
                let router = http::router(state).layer(Extension(poll_hub.clone()));
                let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
                let task = tokio::spawn(async move {
                    if let Err(e) = serve.await {
                        tracing::error!(error = %e, "HTTP server failed");
                    }
                });
                tracing::info!(addr = %bound, "HTTP listening (/health, /metrics, the Resonate API)");
                (Some(bound), Some(task))
            }
            None => (None, None),
        };
        let (poll_addr, poll) = match config.poll {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|source| ServerError::Poll { addr: addr.clone(), source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| ServerError::Poll { addr: addr.clone(), source })?;
                let router = axum::Router::from(poll::routes()).layer(Extension(poll_hub.clone()));
                let mut stopped = stopped.clone();
                let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
                let task = tokio::spawn(async move {
                    if let Err(e) = serve.await {
                        tracing::error!(error = %e, "poll server failed");
                    }
                });
                tracing::info!(addr = %bound, "poll listening (SSE, GET /<group>/<id>)");
                (Some(bound), Some(task))
            }
            None => (None, None),
        };
        Ok(RunningServer { api, nats, http_addr, http, poll_addr, poll, poll_hub, timers, stop })
    }

    /// The bound HTTP address, when HTTP is enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The bound poll (SSE) address, when the poll listener is enabled.
    pub fn poll_addr(&self) -> Option<SocketAddr> {
        self.poll_addr
    }

    /// The hub of open poll connections (served on the poll listener and under `/poll`).
    pub fn poll_hub(&self) -> &Arc<Hub> {
        &self.poll_hub
    }

    /// The shared API state.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Stops taking requests, finishes those in flight, stops timers and closes the store.
    pub async fn shutdown(mut self) {
        if let Some(nats) = self.nats.take() {
            nats.shutdown().await;
        }
        let _ = self.stop.send(true);
        self.poll_hub.close();
        if let Some(http) = self.http.take() {
            let _ = http.await;
        }
        if let Some(poll) = self.poll.take() {
            let _ = poll.await;
        }
        for timer in self.timers.drain(..) {
            let _ = timer.await;
        }
        tracing::info!("server stopped");
    }
}
