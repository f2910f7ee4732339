//! Configuration of `natsapi serve` and `natsapi dev`.
//!
//! Settings come from four sources; the first that sets a value wins:
//!
//! 1. command-line flags ([`ServerArgs`]),
//! 2. `NATSAPI_*` environment variables (clap merges them into [`ServerArgs`]),
//! 3. the YAML file named by `--config FILE` (see [`example_yaml`]),
//! 4. the defaults of the [`Mode`] ([`Settings::defaults`]).
//!
//! Every value is checked by the same parser whatever its source (see
//! [`parse`]), and errors name where the bad value came from: the flag, or the
//! file, line and dotted key path.
//!
//! ```
//! use clap::Parser;
//! use natsapi_config::{Mode, ServerArgs, StoreKind};
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     args: ServerArgs,
//! }
//!
//! let cli = Cli::try_parse_from(["natsapi", "--api-nats-subject=orders.api"]).unwrap();
//! let settings = natsapi_config::load(Mode::Dev, &cli.args).unwrap();
//! assert_eq!(settings.api.nats.subject, "orders.api");
//! assert_eq!(settings.store.kind, StoreKind::Memory);
//! ```

mod args;
mod error;
mod file;
pub mod parse;

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use args::ServerArgs;
pub use error::ConfigError;

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
}

/// The API subsystems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The NATS request-reply API (YAML `api.subsystems.nats`).
    pub nats: NatsSettings,
    /// The HTTP listener for /health and /metrics (YAML `api.subsystems.http`).
    pub http: HttpSettings,
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
}

/// The HTTP listener for /health and /metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Whether to listen for HTTP. Default `true`.
    pub enabled: bool,
    /// Listen address, a valid [`SocketAddr`] (port 0 picks a free port).
    /// Default [`DEFAULT_HTTP_ADDR`].
    pub addr: String,
}

impl HttpSettings {
    /// The listen address parsed; [`load`] has checked that it parses.
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
    /// `info,natsapi=debug`. Default [`DEFAULT_LOG_LEVEL`].
    pub level: String,
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
/// the YAML file (see [`parse::worker_threads`]); [`Display`](fmt::Display)
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
fn auto_worker_threads(cores: usize) -> usize {
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
/// Default SQLite database file.
pub const DEFAULT_SQLITE_PATH: &str = "natsapi.db";
/// Default log filter.
pub const DEFAULT_LOG_LEVEL: &str = "info";

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
                },
                http: HttpSettings { enabled: true, addr: DEFAULT_HTTP_ADDR.to_owned() },
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
            },
            log: LogSettings { level: DEFAULT_LOG_LEVEL.to_owned(), format: LogFormat::Text },
            runtime: RuntimeSettings { worker_threads: WorkerThreads::Auto },
        }
    }
}

/// Resolves the settings: reads the YAML file named by `args.config`, if
/// any, and applies `args` (flags and environment variables, which clap has
/// already merged) over it and over the defaults of `mode`.
///
/// # Errors
/// [`ConfigError::ReadFile`] if the file cannot be read, and any error of
/// [`load_from`].
pub fn load(mode: Mode, args: &ServerArgs) -> Result<Settings, ConfigError> {
    match &args.config {
        None => load_from(mode, args, None),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?;
            load_from(mode, args, Some((path, &text)))
        }
    }
}

/// Like [`load`], but takes the file's name and text instead of reading
/// `args.config` (which is ignored).
///
/// # Errors
/// A [`ConfigError`] naming the file, line and key path of a YAML syntax
/// error, an unknown key or a bad value, or the flag of a bad value in `args`
/// (possible only if `args` was built without clap's value parsers).
pub fn load_from(
    mode: Mode,
    args: &ServerArgs,
    yaml: Option<(&Path, &str)>,
) -> Result<Settings, ConfigError> {
    let mut settings = Settings::defaults(mode);
    if let Some((path, text)) = yaml {
        apply_file(&mut settings, file::parse_file(path, text)?);
    }
    apply_args(&mut settings, args)?;
    Ok(settings)
}

fn apply_file(s: &mut Settings, f: file::FileConfig) {
    fn set<T>(slot: &mut T, value: Option<T>) {
        if let Some(v) = value {
            *slot = v;
        }
    }
    let subsystems = f.api.and_then(|a| a.subsystems).unwrap_or_default();
    let nats = subsystems.nats.unwrap_or_default();
    let n = &mut s.api.nats;
    set(&mut n.enabled, nats.enabled);
    set(&mut n.addr, nats.addr);
    set(&mut n.subject, nats.subject);
    set(&mut n.timeout, nats.timeout);
    set(&mut n.max_payload, nats.max_payload);
    set(&mut n.max_inflight, nats.max_inflight);
    set(&mut n.queue_group, nats.queue_group);
    let http = subsystems.http.unwrap_or_default();
    set(&mut s.api.http.enabled, http.enabled);
    set(&mut s.api.http.addr, http.addr);
    let store = f.store.unwrap_or_default();
    set(&mut s.store.kind, store.kind);
    let sqlite = store.sqlite.unwrap_or_default();
    set(&mut s.store.sqlite.path, sqlite.path);
    set(&mut s.store.sqlite.synchronous, sqlite.synchronous);
    let log = f.log.unwrap_or_default();
    set(&mut s.log.level, log.level);
    set(&mut s.log.format, log.format);
    let runtime = f.runtime.unwrap_or_default();
    set(&mut s.runtime.worker_threads, runtime.worker_threads);
}

/// Applies the flags, re-checking the values that have a syntax: clap has
/// checked them already, but `ServerArgs` may also be built by hand.
fn apply_args(s: &mut Settings, a: &ServerArgs) -> Result<(), ConfigError> {
    fn check<T, U>(
        slot: &mut T,
        value: Option<&U>,
        flag: &'static str,
        env: &'static str,
        parse: impl Fn(&U) -> Result<T, String>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = value {
            *slot = parse(v).map_err(|message| ConfigError::ArgValue { flag, env, message })?;
        }
        Ok(())
    }
    fn nonzero<T: PartialEq + Default + Copy + std::fmt::Debug>(v: &T) -> Result<T, String> {
        if *v == T::default() { Err(format!("{v:?} must be greater than zero")) } else { Ok(*v) }
    }
    let n = &mut s.api.nats;
    check(
        &mut n.enabled,
        a.api_nats_enable.as_ref(),
        "--api-nats-enable",
        "NATSAPI_API_NATS_ENABLE",
        |v| Ok(*v),
    )?;
    check(
        &mut n.addr,
        a.api_nats_addr.as_ref(),
        "--api-nats-addr",
        "NATSAPI_API_NATS_ADDR",
        |v: &String| parse::nats_addr(v),
    )?;
    check(
        &mut n.subject,
        a.api_nats_subject.as_ref(),
        "--api-nats-subject",
        "NATSAPI_API_NATS_SUBJECT",
        |v: &String| parse::subject(v),
    )?;
    check(
        &mut n.timeout,
        a.api_nats_timeout.as_ref(),
        "--api-nats-timeout",
        "NATSAPI_API_NATS_TIMEOUT",
        nonzero,
    )?;
    check(
        &mut n.max_payload,
        a.api_nats_max_payload.as_ref(),
        "--api-nats-max-payload",
        "NATSAPI_API_NATS_MAX_PAYLOAD",
        nonzero,
    )?;
    check(
        &mut n.max_inflight,
        a.api_nats_max_inflight.as_ref(),
        "--api-nats-max-inflight",
        "NATSAPI_API_NATS_MAX_INFLIGHT",
        nonzero,
    )?;
    check(
        &mut n.queue_group,
        a.api_nats_queue_group.as_ref(),
        "--api-nats-queue-group",
        "NATSAPI_API_NATS_QUEUE_GROUP",
        |v: &String| parse::queue_group(v),
    )?;
    let h = &mut s.api.http;
    check(
        &mut h.enabled,
        a.api_http_enable.as_ref(),
        "--api-http-enable",
        "NATSAPI_API_HTTP_ENABLE",
        |v| Ok(*v),
    )?;
    check(
        &mut h.addr,
        a.api_http_addr.as_ref(),
        "--api-http-addr",
        "NATSAPI_API_HTTP_ADDR",
        |v: &String| parse::http_addr(v),
    )?;
    check(&mut s.store.kind, a.store.as_ref(), "--store", "NATSAPI_STORE", |v| Ok(*v))?;
    check(
        &mut s.store.sqlite.path,
        a.store_sqlite_path.as_ref(),
        "--store-sqlite-path",
        "NATSAPI_STORE_SQLITE_PATH",
        |v: &PathBuf| {
            if v.as_os_str().is_empty() {
                Err("the path must not be empty".to_owned())
            } else {
                Ok(v.clone())
            }
        },
    )?;
    check(
        &mut s.store.sqlite.synchronous,
        a.store_sqlite_synchronous.as_ref(),
        "--store-sqlite-synchronous",
        "NATSAPI_STORE_SQLITE_SYNCHRONOUS",
        |v| Ok(*v),
    )?;
    check(
        &mut s.log.level,
        a.log_level.as_ref(),
        "--log-level",
        "NATSAPI_LOG_LEVEL",
        |v: &String| parse::log_level(v),
    )?;
    check(&mut s.log.format, a.log_format.as_ref(), "--log-format", "NATSAPI_LOG_FORMAT", |v| {
        Ok(*v)
    })?;
    check(
        &mut s.runtime.worker_threads,
        a.worker_threads.as_ref(),
        "--worker-threads",
        "NATSAPI_WORKER_THREADS",
        |v| Ok(*v),
    )?;
    Ok(())
}

/// A commented YAML configuration file that sets every key to its default
/// (`store.kind`, whose default depends on the mode, is commented out).
#[must_use]
pub fn example_yaml() -> &'static str {
    include_str!("example.yaml")
}

#[cfg(test)]
mod tests;
