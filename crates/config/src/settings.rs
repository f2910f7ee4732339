//! The resolved settings: their types and the defaults of each [`Mode`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::PostgresUrl;

/// Which subcommand is running; the defaults differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `natsapi serve`: production defaults, promises kept in SQLite at `natsapi.db`.
    Serve,
    /// `natsapi dev`: development defaults, promises kept in memory.
    Dev,
}

/// The fully resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The API subsystems (YAML `api.subsystems`).
    pub api: ApiSettings,
    /// Where promises are stored (YAML `store`).
    pub store: StoreSettings,
    /// Logging (YAML `log`).
    pub log: LogSettings,
    /// The async runtime (YAML `runtime`).
    pub runtime: RuntimeSettings,
    /// Task targets (YAML `targets`, no flag): logical names a task's recv may
    /// use instead of a URL, each mapped to a recv URL (`nats://<subject>`,
    /// `http(s)://…`, `poll://any@<group>[/<id>]`, `poll://uni@<group>/<id>`,
    /// checked by [`parse::target`](crate::parse::target)). Default empty;
    /// the name `default`, when not configured, means `poll://any@default`.
    pub targets: BTreeMap<String, String>,
    /// The ingest gateway and worker (YAML `ingest`).
    pub ingest: crate::IngestSettings,
}

/// The API subsystems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The NATS request-reply API (YAML `api.subsystems.nats`).
    pub nats: NatsSettings,
    /// The HTTP listener for /health and /metrics (YAML `api.subsystems.http`).
    pub http: HttpSettings,
    /// The SSE poll listener, `GET /<group>/<id>` (YAML `api.subsystems.poll`); its default
    /// address is [`DEFAULT_POLL_ADDR`].
    pub poll: HttpSettings,
    /// Credentials the HTTP API requires (YAML `api.subsystems.http.auth`); none by default.
    pub http_auth: Option<HttpAuth>,
}

/// Credentials every HTTP API request must carry in `Authorization` (health, metrics and CORS
/// preflights excepted).
#[derive(Clone, PartialEq, Eq)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <base64(username:password)>`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for HttpAuth {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpAuth::Bearer(_) => f.write_str("HttpAuth::Bearer(..)"),
            HttpAuth::Basic { username, .. } => write!(f, "HttpAuth::Basic({username}, ..)"),
        }
    }
}

/// The NATS request-reply API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// Whether to serve the API over NATS. Default `true`.
    pub enabled: bool,
    /// NATS server address: a URL (`nats://`, `tls://`, `ws://`, `wss://`,
    /// possibly with `user:pass@`) or `host:port`, or a comma-separated list
    /// of them. Default [`DEFAULT_NATS_ADDR`].
    pub addr: String,
    /// Subject the API listens on; a valid NATS subject without wildcards.
    /// Default [`DEFAULT_NATS_SUBJECT`].
    pub subject: String,
    /// Graceful shutdown timeout: how long in-flight requests may drain.
    /// Default 10 s; never zero.
    pub timeout: Duration,
    /// Largest accepted request payload in bytes; larger requests get a 400.
    /// Default 1 MiB; never zero.
    pub max_payload: usize,
    /// Maximum number of requests handled concurrently. Default 1024; never zero.
    pub max_inflight: usize,
    /// Queue group of the subscription, so instances share the requests.
    /// Default [`DEFAULT_NATS_QUEUE_GROUP`].
    pub queue_group: String,
    /// Credentials and TLS of every NATS connection natsapi makes (the API, task delivery, the
    /// ingest gateway and worker). Default none.
    pub connection: natsapi_client::ConnectionSettings,
}

/// An HTTP listener (the API's, the SSE poller's or the ingest gateway's): whether and where it
/// listens, and its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Whether to listen for HTTP. Default `true`.
    pub enabled: bool,
    /// Listen address, a valid [`SocketAddr`] (port 0 picks a free port).
    /// Default [`DEFAULT_HTTP_ADDR`] (the poller: [`DEFAULT_POLL_ADDR`]).
    pub addr: String,
    /// Listen on a free port when `addr`'s is in use: true in `dev` while the address is the
    /// default one; an address given in a flag, variable or the file must be the one used.
    pub any_port_if_busy: bool,
    /// Timeouts and the connection cap (YAML `headerReadTimeout`, `idleTimeout`,
    /// `maxConnections`).
    pub limits: HttpLimitSettings,
}

impl HttpSettings {
    /// A listener at `addr` with the defaults of `mode`.
    pub(crate) fn defaults(mode: Mode, enabled: bool, addr: &str) -> Self {
        HttpSettings {
            enabled,
            addr: addr.to_owned(),
            any_port_if_busy: mode == Mode::Dev,
            limits: HttpLimitSettings::default(),
        }
    }
}

/// The bounds of an HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimitSettings {
    /// Longest a client may take to send a request's headers, also while a kept-alive connection
    /// waits for its next request. Default 10 s; never zero.
    pub header_read_timeout: Duration,
    /// Longest a connection may stay open with no bytes moving either way. Default 60 s; at
    /// least 1 s (SSE poll streams send keep-alives at a third of it).
    pub idle_timeout: Duration,
    /// Most connections open at once; more are answered `503` with `Retry-After`. Default 1024.
    pub max_connections: usize,
}

impl Default for HttpLimitSettings {
    fn default() -> Self {
        HttpLimitSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

impl HttpSettings {
    /// The listen address parsed; [`load`](crate::load) has checked that it parses.
    ///
    /// # Errors
    /// Only if `addr` was changed to something that is not a socket address
    /// after loading.
    pub fn socket_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.addr.parse()
    }
}

/// Where promises are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum StoreKind {
    /// In memory: lost on exit (the `dev` default).
    Memory,
    /// In a SQLite database file (the `serve` default).
    Sqlite,
    /// In a PostgreSQL database (its URL is required); also spelt `postgresql`.
    #[value(alias = "postgresql")]
    Postgres,
}

/// SQLite's `PRAGMA synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Synchronous {
    /// `FULL`: a committed write survives power loss (the default).
    Full,
    /// `NORMAL`: faster; in WAL mode the latest commits may be lost on power loss.
    Normal,
}

/// Store settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// Which store to use. Default: [`StoreKind::Sqlite`] for [`Mode::Serve`],
    /// [`StoreKind::Memory`] for [`Mode::Dev`].
    pub kind: StoreKind,
    /// SQLite settings, used when `kind` is [`StoreKind::Sqlite`].
    pub sqlite: SqliteSettings,
    /// PostgreSQL settings, used when `kind` is [`StoreKind::Postgres`].
    pub postgres: PostgresSettings,
}

/// SQLite store settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// Database file, relative to the working directory unless absolute.
    /// Default [`DEFAULT_SQLITE_PATH`].
    pub path: PathBuf,
    /// Durability of commits. Default [`Synchronous::Full`].
    pub synchronous: Synchronous,
}

/// PostgreSQL store settings. `Debug` masks the password (see [`PostgresUrl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// The connection string, a `postgres://` or `postgresql://` URL or `key=value` pairs. No
    /// default: [`load`](crate::load) refuses [`StoreKind::Postgres`] without one.
    pub url: Option<PostgresUrl>,
    /// Most connections this instance opens to the database; at least
    /// [`MIN_POSTGRES_POOL_SIZE`](crate::parse::MIN_POSTGRES_POOL_SIZE), 2. Default
    /// [`DEFAULT_POSTGRES_POOL_SIZE`].
    pub pool_size: usize,
    /// Longest one SQL statement may run before PostgreSQL cancels it, so that a stuck statement
    /// fails instead of holding a connection; whole milliseconds, at most `i32::MAX` ms. `None`
    /// (`off` or `0` in a flag, variable or the file): no limit. Default
    /// [`DEFAULT_POSTGRES_STATEMENT_TIMEOUT`].
    pub statement_timeout: Option<Duration>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// A `tracing_subscriber::EnvFilter` directive list such as `info` or
    /// `info,natsapi=debug`, when a flag, variable or the file sets one; it wins over
    /// `RUST_LOG`. `None`: `RUST_LOG` if set, else [`DEFAULT_LOG_LEVEL`].
    pub level: Option<String>,
    /// Output format. Default [`LogFormat::Text`].
    pub format: LogFormat,
}

/// Settings of the Tokio runtime that runs the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// How many worker threads the runtime gets. Default [`WorkerThreads::Auto`].
    pub worker_threads: WorkerThreads,
}

/// How many worker threads the Tokio runtime gets: a fixed count, or
/// [`Auto`](WorkerThreads::Auto) (the default), half the available cores
/// rounded up. One thread means a single-threaded (current-thread) runtime.
///
/// Why half the cores: handling a request is short and the NATS round trips
/// dominate, so on a small machine a single-threaded runtime, which has no
/// cross-thread wake-ups, answers more requests per second than a
/// multi-threaded one, and it leaves the other cores to nats-server and to the
/// store's writer thread. BENCHMARKS.md has the figures measured on a 2-core
/// machine with both settings.
///
/// Written `auto` or a positive integer in flags, environment variables and
/// the YAML file (see [`parse::worker_threads`](crate::parse::worker_threads)); [`Display`](fmt::Display)
/// writes it back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WorkerThreads {
    /// Half the available cores rounded up, at least 1 (see [`WorkerThreads::resolve`]).
    #[default]
    Auto,
    /// Exactly this many worker threads.
    Fixed(NonZeroUsize),
}

impl WorkerThreads {
    /// The number of worker threads to start: the fixed count, or for
    /// [`Auto`](WorkerThreads::Auto) half of
    /// [`std::thread::available_parallelism`] rounded up (1 on a 2-core
    /// machine, 4 on 8 cores), and 1 if the core count is unknown.
    #[must_use]
    pub fn resolve(&self) -> usize {
        match self {
            WorkerThreads::Auto => {
                auto_worker_threads(std::thread::available_parallelism().map_or(1, usize::from))
            }
            WorkerThreads::Fixed(n) => n.get(),
        }
    }
}

/// Half of `cores` rounded up, at least 1.
pub(crate) fn auto_worker_threads(cores: usize) -> usize {
    cores.div_ceil(2).max(1)
}

impl fmt::Display for WorkerThreads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerThreads::Auto => f.write_str("auto"),
            WorkerThreads::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// Default NATS server address.
pub const DEFAULT_NATS_ADDR: &str = "nats://localhost:4222";
/// Default NATS subject.
pub const DEFAULT_NATS_SUBJECT: &str = "resonate.server";
/// Default graceful shutdown timeout.
pub const DEFAULT_NATS_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest request payload: 1 MiB.
pub const DEFAULT_NATS_MAX_PAYLOAD: usize = 1 << 20;
/// Default number of concurrent requests.
pub const DEFAULT_NATS_MAX_INFLIGHT: usize = 1024;
/// Default NATS queue group.
pub const DEFAULT_NATS_QUEUE_GROUP: &str = "natsapi";
/// Default HTTP listen address.
pub const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:8001";
/// Default SSE poll listen address.
pub const DEFAULT_POLL_ADDR: &str = "0.0.0.0:8002";
/// Default SQLite database file.
pub const DEFAULT_SQLITE_PATH: &str = "natsapi.db";
/// Default number of connections of a PostgreSQL store.
pub const DEFAULT_POSTGRES_POOL_SIZE: usize = 8;
/// Default PostgreSQL statement timeout.
pub const DEFAULT_POSTGRES_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default log filter: `info`, but the NATS client's own connection messages only from `warn`
/// (natsapi logs the connection events that matter itself).
pub const DEFAULT_LOG_LEVEL: &str = "info,async_nats=warn";

impl Settings {
    /// The settings used when nothing is configured.
    #[must_use]
    pub fn defaults(mode: Mode) -> Settings {
        Settings {
            api: ApiSettings {
                nats: NatsSettings {
                    enabled: true,
                    addr: DEFAULT_NATS_ADDR.to_owned(),
                    subject: DEFAULT_NATS_SUBJECT.to_owned(),
                    timeout: DEFAULT_NATS_TIMEOUT,
                    max_payload: DEFAULT_NATS_MAX_PAYLOAD,
                    max_inflight: DEFAULT_NATS_MAX_INFLIGHT,
                    queue_group: DEFAULT_NATS_QUEUE_GROUP.to_owned(),
                    connection: natsapi_client::ConnectionSettings::default(),
                },
                http: HttpSettings::defaults(mode, true, DEFAULT_HTTP_ADDR),
                poll: HttpSettings::defaults(mode, true, DEFAULT_POLL_ADDR),
                http_auth: None,
            },
            store: StoreSettings {
                kind: match mode {
                    Mode::Serve => StoreKind::Sqlite,
                    Mode::Dev => StoreKind::Memory,
                },
                sqlite: SqliteSettings {
                    path: PathBuf::from(DEFAULT_SQLITE_PATH),
                    synchronous: Synchronous::Full,
                },
                postgres: PostgresSettings {
                    url: None,
                    pool_size: DEFAULT_POSTGRES_POOL_SIZE,
                    statement_timeout: Some(DEFAULT_POSTGRES_STATEMENT_TIMEOUT),
                },
            },
            log: LogSettings { level: None, format: LogFormat::Text },
            runtime: RuntimeSettings { worker_threads: WorkerThreads::Auto },
            targets: BTreeMap::new(),
            ingest: crate::IngestSettings::defaults(mode),
        }
    }
}
