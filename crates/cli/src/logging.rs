//! Log output set up in one place. The level set by `--log-level`, `NATSAPI_LOG_LEVEL` or the
//! file wins over `RUST_LOG` (flags and their variables beat everything else); `RUST_LOG`
//! applies when none of them sets one. Colours only when standard error is a terminal.

use std::io::IsTerminal;

use natsapi_config::{DEFAULT_LOG_LEVEL, LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; logs go to stderr.
pub fn init(settings: &LogSettings) {
    let filter = match &settings.level {
        Some(level) => EnvFilter::try_new(level),
        None => {
            EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(DEFAULT_LOG_LEVEL))
        }
    }
    .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_LEVEL));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
