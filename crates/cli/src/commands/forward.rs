//! `natsapi forward` (hidden): the ingest benchmark's second baseline, the cheapest HTTP to
//! JetStream gateway there can be. `POST /forward` publishes the request body as it is, with a
//! `Nats-Msg-Id`, and answers 202 once JetStream has acknowledged it: no envelope, no status
//! row, no grouping. Measured in the same run as the gateway, it shows what HTTP itself costs on
//! the machine, apart from anything the gateway does.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use async_nats::jetstream::{self, message::PublishMessage};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use natsapi_config::WorkerThreads;

/// Options of the forwarder.
#[derive(Debug, clap::Args)]
pub struct ForwardArgs {
    /// NATS server URL.
    #[arg(long, default_value = "nats://localhost:4222")]
    server: String,
    /// HTTP address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089")]
    addr: String,
    /// Subject to publish to; a stream must capture it.
    #[arg(long, default_value = "bench.raw.forward")]
    subject: String,
    /// Tokio worker threads (a positive integer or auto, as for `natsapi serve`); `natsapi bench`
    /// passes the gateway's count so both run the same runtime.
    #[arg(long, default_value = "1", value_parser = natsapi_config::parse::worker_threads)]
    worker_threads: WorkerThreads,
    /// Credentials and TLS, as for `natsapi serve` (`natsapi bench` passes its own).
    #[command(flatten)]
    connection: natsapi_config::ConnectArgs,
}

struct Forwarder {
    js: jetstream::Context,
    subject: String,
    /// Unique to this process (its id and start time), so that a later forwarder publishing to
    /// the same stream within its duplicate window is not taken for a repeat.
    id_prefix: String,
    next_id: AtomicU64,
}

/// Runs the forwarder until the process is stopped.
pub fn run(args: ForwardArgs) -> anyhow::Result<ExitCode> {
    super::runtime(args.worker_threads.resolve())?.block_on(async move {
        let client = args
            .connection
            .settings(&args.server)?
            .connect_options(&args.server)?
            .connect(&args.server)
            .await
            .with_context(|| {
                let addr = natsapi_client::connection::redact_addr(&args.server);
                format!("cannot connect to NATS at {addr}")
            })?;
        let state = Arc::new(Forwarder {
            js: jetstream::new(client),
            subject: args.subject,
            id_prefix: format!(
                "forward-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            ),
            next_id: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/forward", post(forward))
            .route("/health", get(|| async { StatusCode::OK }))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        eprintln!("forwarder listening on {}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn forward(State(forwarder): State<Arc<Forwarder>>, body: Bytes) -> StatusCode {
    let id = forwarder.next_id.fetch_add(1, Ordering::Relaxed);
    let message =
        PublishMessage::build().payload(body).message_id(format!("{}-{id}", forwarder.id_prefix));
    let stored = match forwarder.js.send_publish(forwarder.subject.clone(), message).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    if stored { StatusCode::ACCEPTED } else { StatusCode::SERVICE_UNAVAILABLE }
}
