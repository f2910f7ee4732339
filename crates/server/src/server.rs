//! Starting and stopping a whole API server: store, timers, NATS and HTTP transports.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use natsapi_store::{Store, StoreConfig, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Api;
use crate::delivery::{Deliverer, DeliveryConfig, DeliveryError, Targets};
use crate::http::{self, HttpState};
use crate::listen::{self, BindError, HttpLimits, HttpServer};
use crate::nats::{self, NatsConfig, NatsError, NatsTransport};
use crate::poll::{self, Hub, PollKeepAlive};
use crate::time::Time;
use crate::timer;

/// What to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The store to open.
    pub store: StoreConfig,
    /// The NATS API, when enabled.
    pub nats: Option<NatsConfig>,
    /// The HTTP listener, when enabled (port 0 picks a free port).
    pub http: Option<ListenConfig>,
    /// The SSE poll listener (spec §9.3, `GET /<group>/<id>`), when enabled (port 0 picks a
    /// free port). The same endpoint is served under `/poll` on the HTTP port.
    pub poll: Option<ListenConfig>,
    /// Logical task receivers (YAML `targets:`): name → recv URL.
    pub targets: Targets,
    /// Credentials the HTTP API and the poll listener require, if any.
    pub http_auth: Option<crate::http::auth::HttpAuth>,
}

/// Where an HTTP listener listens, and its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenConfig {
    /// `IP:PORT`; port 0 picks a free port.
    pub addr: String,
    /// When the port is in use, listen on a free one instead of failing (`natsapi dev` with a
    /// default port).
    pub any_port_if_busy: bool,
    /// Timeouts and the connection cap.
    pub limits: HttpLimits,
}

impl From<&str> for ListenConfig {
    /// `addr` with the default bounds, failing when the port is in use.
    fn from(addr: &str) -> Self {
        ListenConfig::from(addr.to_owned())
    }
}

impl From<String> for ListenConfig {
    /// `addr` with the default bounds, failing when the port is in use.
    fn from(addr: String) -> Self {
        ListenConfig { addr, any_port_if_busy: false, limits: HttpLimits::default() }
    }
}

impl ListenConfig {
    /// Binds the address (see [`listen::bind`]).
    ///
    /// # Errors
    /// [`BindError`] naming the address and the cause.
    pub async fn bind(&self) -> Result<TcpListener, BindError> {
        listen::bind(&self.addr, self.any_port_if_busy).await
    }
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
    #[error("cannot set up task delivery")]
    Delivery(#[source] DeliveryError),
    /// The HTTP address could not be bound.
    #[error("HTTP API")]
    Http(#[source] BindError),
    /// The poll address could not be bound.
    #[error("SSE poll listener")]
    Poll(#[source] BindError),
}

/// A started server. Stop it with [`RunningServer::shutdown`], or in two steps
/// ([`stop_accepting`](RunningServer::stop_accepting), then [`finish`](RunningServer::finish))
/// when other parts of the process must stop taking work at the same moment.
pub struct RunningServer {
    api: Api,
    nats: Option<NatsTransport>,
    http: Option<HttpServer>,
    poll: Option<HttpServer>,
    poll_hub: Arc<Hub>,
    timers: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

/// A server whose store is open, whose listeners are bound and whose NATS connection is up, but
/// which takes no work yet: [`BoundServer::start`] starts it. Between the two a process can
/// start its other parts, so that none of them can fail after the API has taken requests.
pub struct BoundServer {
    config: ServerConfig,
    time: Time,
    store: Store,
    http: Option<TcpListener>,
    poll: Option<TcpListener>,
    client: Option<async_nats::Client>,
}

impl BoundServer {
    /// The opened store, and the configuration it was opened with (another role of the same
    /// process may share it rather than open the same database again).
    pub fn store(&self) -> (&Store, &StoreConfig) {
        (&self.store, &self.config.store)
    }

    /// Starts the timers and the HTTP listeners, and subscribes to the API subject last, so that
    /// a start that fails has never joined the queue group.
    pub async fn start(self) -> Result<RunningServer, ServerError> {
        let BoundServer { config, time, store, http, poll, client } = self;
        let (http_listener, poll_listener) = (http, poll);
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
        timers.push(tokio::spawn(timer::run(api.clone(), work, stopped)));

        let auth = config.http_auth.clone();
        let http = match (http_listener, &config.http) {
            (Some(listener), Some(listen)) => {
                let state = HttpState { api: api.clone(), nats: client.clone(), auth };
                let router = http::router(state)
                    .layer(Extension(poll_hub.clone()))
                    .layer(Extension(PollKeepAlive(listen.limits.keep_alive_interval())));
                Some(
                    HttpServer::start(listener, router, listen.limits)
                        .map_err(listen_failed(&listen.addr, ServerError::Http))?,
                )
            }
            _ => None,
        };
        let poll = match (poll_listener, &config.poll) {
            (Some(listener), Some(listen)) => {
                let router =
                    http::with_auth(axum::Router::from(poll::routes()), config.http_auth.clone())
                        .layer(Extension(poll_hub.clone()))
                        .layer(Extension(PollKeepAlive(listen.limits.keep_alive_interval())));
                Some(
                    HttpServer::start(listener, router, listen.limits)
                        .map_err(listen_failed(&listen.addr, ServerError::Poll))?,
                )
            }
            _ => None,
        };
        let nats = match (client, config.nats) {
            (Some(client), Some(nats_config)) => {
                Some(NatsTransport::start(api.clone(), client, nats_config).await?)
            }
            _ => None,
        };
        Ok(RunningServer { api, nats, http, poll, poll_hub, timers, stop })
    }
}

impl RunningServer {
    /// Binds ([`RunningServer::bind`]) and starts ([`BoundServer::start`]) a server.
    pub async fn start(config: ServerConfig, time: Time) -> Result<Self, ServerError> {
        RunningServer::bind(config, time).await?.start().await
    }

    /// Opens the store, binds the HTTP listeners and connects to NATS; nothing is served yet.
    pub async fn bind(config: ServerConfig, time: Time) -> Result<BoundServer, ServerError> {
        crate::metrics::handle();
        let store = Store::open(&config.store, time.clock())?;
        let http = match &config.http {
            Some(listen) => Some(listen.bind().await.map_err(ServerError::Http)?),
            None => None,
        };
        let poll = match &config.poll {
            Some(listen) => Some(listen.bind().await.map_err(ServerError::Poll)?),
            None => None,
        };
        let client = match &config.nats {
            Some(nats_config) => {
                Some(nats::connect(&nats_config.addr, &nats_config.connection, "natsapi").await?)
            }
            None => None,
        };
        Ok(BoundServer { config, time, store, http, poll, client })
    }

    /// The bound HTTP address, when HTTP is enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::addr)
    }

    /// The bound poll (SSE) address, when the poll listener is enabled.
    pub fn poll_addr(&self) -> Option<SocketAddr> {
        self.poll.as_ref().map(HttpServer::addr)
    }

    /// The hub of open poll connections (served on the poll listener and under `/poll`).
    pub fn poll_hub(&self) -> &Arc<Hub> {
        &self.poll_hub
    }

    /// The shared API state.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Stops taking work at once, on every transport: the NATS subscription drains, the HTTP
    /// and poll listeners close, open poll streams end. Requests in flight go on; [`finish`]
    /// waits for them.
    ///
    /// [`finish`]: RunningServer::finish
    pub fn stop_accepting(&self) {
        if let Some(nats) = &self.nats {
            nats.stop_accepting();
        }
        for listener in self.http.iter().chain(&self.poll) {
            listener.stop_accepting();
        }
        self.poll_hub.close();
    }

    /// Stops taking work (if not done yet), waits for the requests in flight (NATS up to its
    /// drain timeout), then stops the timers and closes the store.
    pub async fn finish(mut self) {
        self.stop_accepting();
        let nats = async {
            if let Some(nats) = self.nats.take() {
                nats.finish().await;
            }
        };
        let http = async {
            if let Some(http) = self.http.take() {
                http.finished().await;
            }
        };
        let poll = async {
            if let Some(poll) = self.poll.take() {
                poll.finished().await;
            }
        };
        futures::join!(nats, http, poll);
        let _ = self.stop.send(true);
        for timer in self.timers.drain(..) {
            let _ = timer.await;
        }
        tracing::info!("server stopped");
    }

    /// Stops taking requests, finishes those in flight, stops timers and closes the store.
    pub async fn shutdown(self) {
        self.finish().await;
    }
}

/// Turns a failure to serve a bound listener (its address unreadable) into `kind`.
fn listen_failed(
    addr: &str,
    kind: fn(BindError) -> ServerError,
) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| kind(BindError::Listen { addr: addr.to_owned(), source })
}
