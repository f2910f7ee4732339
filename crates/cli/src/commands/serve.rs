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
/// The promise API runs when any of its transports is enabled; the ingest roles when theirs are.
pub async fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let api = &settings.api;
    let server = if api.nats.enabled || api.http.enabled || api.poll.enabled {
        let config = settings::server_config(settings);
        let server = RunningServer::start(config, Time::system()).await.context("cannot start")?;
        tracing::info!(
            nats = %if api.nats.enabled { api.nats.addr.as_str() } else { "disabled" },
            subject = %api.nats.subject,
            http = ?server.http_addr(),
            store = ?settings.store.kind,
            "natsapi ready"
        );
        Some(server)
    } else {
        None
    };
    let ingest = match super::ingest::start(settings).await {
        Ok(ingest) => ingest,
        Err(e) => {
            if let Some(server) = server {
                server.shutdown().await;
            }
            return Err(e);
        }
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(ingest) = ingest {
        ingest.shutdown().await;
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
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
