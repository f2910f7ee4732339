//! The signals that stop a server process: the first SIGINT or SIGTERM asks for a graceful stop,
//! a second one stops at once (for an operator who will not wait for the drain).

use std::time::Duration;

/// The stop signals of this process, listened for from the moment this is made (so that Tokio,
/// not the default action, handles them).
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

/// A stop signal that arrived: its name and the exit code of a process it ends (128 + its
/// number, as a shell reports a process killed by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// `SIGINT` or `SIGTERM`.
    pub name: &'static str,
    /// 130 or 143.
    pub exit_code: u8,
}

const SIGINT: Received = Received { name: "SIGINT", exit_code: 130 };
#[cfg(unix)]
const SIGTERM: Received = Received { name: "SIGTERM", exit_code: 143 };

impl StopSignals {
    /// Starts listening for SIGINT and SIGTERM.
    ///
    /// # Errors
    /// If the signal handlers cannot be installed.
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// The next stop signal.
    pub async fn next(&mut self) -> Received {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => SIGINT,
                _ = self.terminate.recv() => SIGTERM,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            SIGINT
        }
    }
}

/// How much longer than the drain timeout a stop may take in all: the flushes after the drain
/// (at most 300 ms each), stopping the timers and closing the store. With the runtime's own
/// shutdown (200 ms) a process exits within the drain timeout plus one second.
pub const STOP_GRACE: Duration = Duration::from_millis(750);
