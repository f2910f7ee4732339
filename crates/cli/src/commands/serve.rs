//! `natsapi serve`: run the API server until SIGINT or SIGTERM, then drain and stop.

use std::process::ExitCode;

use anyhow::Context;
use natsapi_config::{Mode, ServerArgs, Settings};
use natsapi_server::{RunningServer, Time};

use crate::{logging, settings};

/// Loads the configuration and serves.
pub fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let settings = natsapi_config::load(Mode::Serve, &args)?;
    logging::init(&settings.log);
    super::runtime(settings.runtime.worker_threads.resolve())?.block_on(serve(&settings))
}

/// Starts the server with `settings` and runs it until a shutdown signal.
pub async fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let config = settings::server_config(settings);
    let server = RunningServer::start(config, Time::system()).await.context("cannot start")?;
    tracing::info!(
        nats = %if settings.api.nats.enabled { settings.api.nats.addr.as_str() } else { "disabled" },
        subject = %settings.api.nats.subject,
        http = ?server.http_addr(),
        store = ?settings.store.kind,
        "natsapi ready"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
