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
mod connection;
mod error;
mod file;
mod ingest;
mod ingest_database;
mod load;
pub mod parse;
mod postgres;
mod role_args;
mod settings;

pub use args::ServerArgs;
pub use connection::{CONNECTION_ENV, ConnectArgs, child_env};
pub use error::ConfigError;
pub use file::example_yaml;
pub use ingest::{
    ColumnSettings, DEFAULT_INGEST_ADDR, DEFAULT_INGEST_DB, EntitySettings, IngestSettings,
    RpcSettings, stream_name,
};
pub use ingest_database::IngestDatabase;
pub use load::{load, load_from};
pub use postgres::PostgresUrl;
pub use role_args::{GatewayArgs, WorkerArgs};
pub use settings::{
    ApiSettings, DEFAULT_HTTP_ADDR, DEFAULT_LOG_LEVEL, DEFAULT_NATS_ADDR,
    DEFAULT_NATS_MAX_INFLIGHT, DEFAULT_NATS_MAX_PAYLOAD, DEFAULT_NATS_QUEUE_GROUP,
    DEFAULT_NATS_SUBJECT, DEFAULT_NATS_TIMEOUT, DEFAULT_POLL_ADDR, DEFAULT_POSTGRES_POOL_SIZE,
    DEFAULT_POSTGRES_STATEMENT_TIMEOUT, DEFAULT_SQLITE_PATH, HttpAuth, HttpLimitSettings,
    HttpSettings, LogFormat, LogSettings, Mode, NatsSettings, PostgresSettings, RuntimeSettings,
    Settings, SqliteSettings, StoreKind, StoreSettings, Synchronous, WorkerThreads,
};

#[cfg(test)]
mod tests;
