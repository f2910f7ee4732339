//! `natsapi serve`: run the API server until SIGINT or SIGTERM, then drain and stop.
//!
//! Stopping takes every part at once: on the first signal the NATS subscription drains and
//! every HTTP listener closes (API, poll, ingest gateway), so nothing takes new work while
//! the requests in flight are answered; the worker stops pulling. The process exits within the
//! drain timeout (`--api-nats-timeout`) plus a moment, whether NATS is reachable or not. A
//! second signal ends the wait at once: the command returns (and `natsapi dev` stops its
//! nats-server child) with the signal's exit status.

use std::process::ExitCode;

use anyhow::Context;
use natsapi_config::{Mode, ServerArgs, Settings};
use natsapi_server::listen;
use natsapi_server::{BoundServer, RunningServer, Time};

use super::ready::{self, Bound};
use super::signals::{STOP_GRACE, StopSignals};
use crate::{logging, settings};

/// Loads the configuration and serves.
pub fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let settings = natsapi_config::load(Mode::Serve, &args)?;
    logging::init(&settings.log);
    super::block_on(&settings, serve(&settings))
}

/// Starts the server with `settings` and runs it until a shutdown signal.
/// The promise API runs when any of its transports is enabled; the ingest roles when theirs are.
/// Every listener is bound and the ingest roles are started before the NATS subscription joins
/// the queue group, so a start that fails has never taken a request.
pub async fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut signals = StopSignals::listen().context("cannot listen for stop signals")?;
    let mut settings = settings.clone();
    fit_open_files(&mut settings);
    let settings = &settings;
    let ingest_listener = super::ingest::bind(settings).await?;
    let api = &settings.api;
    let bound = if api.nats.enabled || api.http.enabled || api.poll.enabled {
        let config = settings::server_config(settings);
        Some(RunningServer::bind(config, Time::system()).await.context("cannot start")?)
    } else {
        None
    };
    // The ingest roles start before the API takes any request, so that none of their failures
    // (JetStream missing, a consumer configured otherwise) can come after it.
    let api_store = bound.as_ref().map(|bound| {
        let (store, config) = bound.store();
        (store.clone(), config.clone())
    });
    let ingest = super::ingest::start(settings, ingest_listener, api_store).await?;
    let server = match bound.map(BoundServer::start) {
        None => None,
        Some(starting) => match starting.await {
            Ok(server) => Some(server),
            Err(e) => {
                if let Some(ingest) = ingest {
                    ingest.finish().await;
                }
                return Err(anyhow::Error::new(e).context("cannot start"));
            }
        },
    };
    let bound = Bound {
        http: server.as_ref().and_then(RunningServer::http_addr),
        poll: server.as_ref().and_then(RunningServer::poll_addr),
        ingest: ingest.as_ref().and_then(|i| i.gateway_addr),
        worker_database: ingest.as_ref().and_then(|i| i.worker_database.clone()),
    };
    tracing::info!("{}", ready::line(settings, &bound));

    let received = signals.next().await;
    let drain = settings.api.nats.timeout;
    tracing::info!(
        signal = received.name,
        drain = %humantime::format_duration(drain),
        "stopping: no new work is taken; finishing what is in flight (a second signal exits at once)"
    );
    if let Some(server) = &server {
        server.stop_accepting();
    }
    if let Some(ingest) = &ingest {
        ingest.stop_accepting();
    }
    let finish = async {
        let server = async {
            if let Some(server) = server {
                server.finish().await;
            }
        };
        let ingest = async {
            if let Some(ingest) = ingest {
                ingest.finish().await;
            }
        };
        futures::join!(server, ingest);
    };
    tokio::select! {
        finished = tokio::time::timeout(drain + STOP_GRACE, finish) => {
            if finished.is_err() {
                tracing::warn!(
                    drain = %humantime::format_duration(drain),
                    "work still in flight after the drain timeout; exiting without it"
                );
            }
        }
        again = signals.next() => {
            tracing::warn!(signal = again.name, "second stop signal: exiting now");
            return Ok(ExitCode::from(again.exit_code));
        }
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Raises the open-files limit, and lowers the enabled HTTP listeners' connection caps in
/// proportion when they do not fit under it (with a warning naming the limit).
fn fit_open_files(settings: &mut Settings) {
    let Some(limit) = listen::raise_open_files_limit() else { return };
    let mut listeners: Vec<&mut natsapi_config::HttpSettings> =
        [&mut settings.api.http, &mut settings.api.poll, &mut settings.ingest.gateway]
            .into_iter()
            .filter(|listener| listener.enabled)
            .collect();
    let caps: Vec<usize> = listeners.iter().map(|l| l.limits.max_connections).collect();
    let fitted = listen::fit_caps(&caps, limit);
    if fitted == caps {
        return;
    }
    tracing::warn!(
        limit,
        reserved = listen::RESERVED_FILES,
        "the open-files limit is below the listeners' connection caps ({caps:?}); using \
         {fitted:?} (raise the limit, e.g. LimitNOFILE= in a systemd unit, to keep them)"
    );
    for (listener, cap) in listeners.iter_mut().zip(fitted) {
        listener.limits.max_connections = cap;
    }
}
