//! Command-line flags (and their `NATSAPI_*` environment variables).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;

use crate::{IngestDatabase, LogFormat, PostgresUrl, StoreKind, Synchronous, WorkerThreads, parse};

/// Flags shared by `natsapi serve` and `natsapi dev`; the binary flattens this
/// struct into both subcommands.
///
/// Every field is an `Option` so that "not given" is distinguishable from a
/// value equal to the default: a missing flag falls back to its environment
/// variable (clap does that), then to the configuration file, then to the
/// mode's default (see [`crate::load`]). Values are checked while parsing, so
/// a bad flag or environment variable is reported by clap and names the flag.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
// Keep this doc comment out of the subcommand's help.
#[command(about = None, long_about = None)]
pub struct ServerArgs {
    /// YAML configuration file; flags and NATSAPI_* variables override its values [default: none]
    #[arg(long, env = "NATSAPI_CONFIG", value_name = "FILE", value_parser = parse::path)]
    pub config: Option<PathBuf>,

    /// Serve the API over NATS request-reply; `--api-nats-enable=false` disables it [default: true]
    #[arg(
        long,
        env = "NATSAPI_API_NATS_ENABLE",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub api_nats_enable: Option<bool>,

    /// NATS server URL(s), comma-separated, e.g. nats://user:pass@host:4222 [default: nats://localhost:4222]
    #[arg(long, env = "NATSAPI_API_NATS_ADDR", value_name = "URL", value_parser = parse::nats_addr)]
    pub api_nats_addr: Option<String>,

    /// NATS subject the API listens on (no wildcards) [default: resonate.server]
    #[arg(long, env = "NATSAPI_API_NATS_SUBJECT", value_name = "SUBJECT", value_parser = parse::subject)]
    pub api_nats_subject: Option<String>,

    /// Graceful shutdown timeout: how long the requests and batches in flight at SIGTERM may take to finish, e.g. 10s, 500ms, 1m [default: 10s]
    #[arg(long, env = "NATSAPI_API_NATS_TIMEOUT", value_name = "DURATION", value_parser = parse::duration)]
    pub api_nats_timeout: Option<Duration>,

    /// Largest accepted request in bytes (suffixes KiB, MiB, KB, MB allowed); larger requests get a 400 [default: 1048576 (1MiB)]
    #[arg(long, env = "NATSAPI_API_NATS_MAX_PAYLOAD", value_name = "BYTES", value_parser = parse::byte_size)]
    pub api_nats_max_payload: Option<usize>,

    /// Maximum number of requests handled concurrently [default: 1024]
    #[arg(long, env = "NATSAPI_API_NATS_MAX_INFLIGHT", value_name = "N", value_parser = parse::positive)]
    pub api_nats_max_inflight: Option<usize>,

    /// NATS queue group, so that several instances share the subject's requests [default: natsapi]
    #[arg(long, env = "NATSAPI_API_NATS_QUEUE_GROUP", value_name = "NAME", value_parser = parse::queue_group)]
    pub api_nats_queue_group: Option<String>,

    /// How to authenticate to NATS and secure the connection (`--api-nats-credentials`,
    /// `--api-nats-tls-*`, ...).
    #[command(flatten)]
    pub connection: crate::ConnectArgs,

    /// Serve the whole HTTP API (the Resonate routes, /poll, /openapi.json, /health, /metrics); `--api-http-enable=false` disables it [default: true]
    #[arg(
        long,
        env = "NATSAPI_API_HTTP_ENABLE",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub api_http_enable: Option<bool>,

    /// HTTP listen address as IP:PORT; port 0 picks a free port [default: 0.0.0.0:8001]
    #[arg(long, env = "NATSAPI_API_HTTP_ADDR", value_name = "ADDR", value_parser = parse::http_addr)]
    pub api_http_addr: Option<String>,

    /// Serve the SSE poller (`GET /<group>/<id>`); `--poll-enable=false` disables it [default: true]
    #[arg(
        long,
        env = "NATSAPI_POLL_ENABLE",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub poll_enable: Option<bool>,

    /// SSE poll listen address as IP:PORT; port 0 picks a free port [default: 0.0.0.0:8002]
    #[arg(long, env = "NATSAPI_POLL_ADDR", value_name = "ADDR", value_parser = parse::http_addr)]
    pub poll_addr: Option<String>,

    /// Promise store [default: sqlite for `serve`, memory for `dev`]
    #[arg(long, env = "NATSAPI_STORE", value_name = "KIND", value_enum, ignore_case = true)]
    pub store: Option<StoreKind>,

    /// SQLite database file, created if missing [default: natsapi.db]
    #[arg(long, env = "NATSAPI_STORE_SQLITE_PATH", value_name = "PATH", value_parser = parse::path)]
    pub store_sqlite_path: Option<PathBuf>,

    /// SQLite synchronous mode: full survives power loss, normal is faster [default: full]
    #[arg(
        long,
        env = "NATSAPI_STORE_SQLITE_SYNCHRONOUS",
        value_name = "MODE",
        value_enum,
        ignore_case = true
    )]
    pub store_sqlite_synchronous: Option<Synchronous>,

    /// PostgreSQL connection string, required with --store postgres: postgres://user:password@host:5432/dbname (or postgresql://), or key=value pairs such as "host=localhost dbname=natsapi"; the variable keeps a password out of the process list [default: none]
    #[arg(
        long,
        env = "NATSAPI_STORE_POSTGRES_URL",
        value_name = "URL",
        value_parser = crate::postgres::PostgresUrlParser,
        hide_env_values = true
    )]
    pub store_postgres_url: Option<PostgresUrl>,

    /// Most connections this instance opens to PostgreSQL; at least 2 [default: 8]
    #[arg(long, env = "NATSAPI_STORE_POSTGRES_POOL_SIZE", value_name = "N", value_parser = parse::pool_size)]
    pub store_postgres_pool_size: Option<usize>,

    /// Longest one SQL statement may run before PostgreSQL cancels it, in whole milliseconds, e.g. 30s, 500ms; off (or 0) for no limit [default: 30s]
    #[arg(
        long,
        env = "NATSAPI_STORE_POSTGRES_STATEMENT_TIMEOUT",
        value_name = "DURATION",
        value_parser = parse::statement_timeout
    )]
    pub store_postgres_statement_timeout: Option<Duration>,

    /// Log filter: a level or EnvFilter directives, e.g. debug or info,natsapi=debug; wins over RUST_LOG, which applies when this is not set [default: info,async_nats=warn]
    #[arg(long, env = "NATSAPI_LOG_LEVEL", value_name = "FILTER", value_parser = parse::log_level)]
    pub log_level: Option<String>,

    /// Log output format [default: text]
    #[arg(long, env = "NATSAPI_LOG_FORMAT", value_name = "FORMAT", value_enum, ignore_case = true)]
    pub log_format: Option<LogFormat>,

    /// Tokio worker threads, or auto: half the cores rounded up (1 on 2 cores, 4 on 8); 1 runs a single-threaded runtime, fastest on small machines [default: auto]
    #[arg(long, env = "NATSAPI_WORKER_THREADS", value_name = "N", value_parser = parse::worker_threads)]
    pub worker_threads: Option<WorkerThreads>,

    /// Run the ingest gateway (`/ingest/*` to JetStream) [default: true for `dev`, false for `serve`]
    #[arg(
        long,
        env = "NATSAPI_INGEST_ENABLE",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub ingest_enable: Option<bool>,

    /// Ingest gateway listen address as IP:PORT [default: 0.0.0.0:8080]
    #[arg(long, env = "NATSAPI_INGEST_ADDR", value_name = "ADDR", value_parser = parse::http_addr)]
    pub ingest_addr: Option<String>,

    /// Run a worker applying ingested messages to the database [default: true for `dev`, false for `serve`]
    #[arg(
        long,
        env = "NATSAPI_WORKER_ENABLE",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub worker_enable: Option<bool>,

    /// JetStream stream of ingested messages [default: MESSAGES]
    #[arg(long, env = "NATSAPI_INGEST_STREAM", value_name = "NAME", value_parser = crate::ingest::stream_name)]
    pub ingest_stream: Option<String>,

    /// Database of the ingest status and mapped tables: a SQLite file, or a postgres:// (postgresql://) URL [default: the store's database when the store is PostgreSQL, else natsapi-ingest.db]
    #[arg(
        long,
        env = "NATSAPI_INGEST_DB",
        value_name = "PATH|URL",
        value_parser = crate::ingest_database::IngestDatabaseParser,
        hide_env_values = true
    )]
    pub ingest_db: Option<IngestDatabase>,

    /// How far a signed call's `ts` may be from the gateway's clock, either way (e.g. 5m) [default: 5m]
    #[arg(long, env = "NATSAPI_RPC_FRESHNESS", value_name = "DURATION", value_parser = parse::duration)]
    pub rpc_freshness: Option<std::time::Duration>,

    /// Refuse signed calls without a signed `ts` [default: false]
    #[arg(
        long,
        env = "NATSAPI_RPC_REQUIRE_TS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub rpc_require_ts: Option<bool>,
}
