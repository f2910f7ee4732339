//! `natsapi echo` (hidden): answers every request with its own payload. The benchmark's baseline:
//! the cheapest possible NATS responder, measured on the same server in the same run.

use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use natsapi_config::WorkerThreads;

/// Options of the echo responder.
#[derive(Debug, clap::Args)]
pub struct EchoArgs {
    /// NATS server URL.
    #[arg(long, default_value = "nats://localhost:4222")]
    server: String,
    /// Subject to answer on.
    #[arg(long, default_value = "natsapi.echo")]
    subject: String,
    /// Tokio worker threads (a positive integer or auto, as for `natsapi serve`); `natsapi bench`
    /// passes the server's count so both sides run the same runtime.
    #[arg(long, default_value = "1", value_parser = natsapi_config::parse::worker_threads)]
    worker_threads: WorkerThreads,
    /// Credentials and TLS, as for `natsapi serve` (`natsapi bench` passes its own).
    #[command(flatten)]
    connection: natsapi_config::ConnectArgs,
}

/// Runs the responder until the process is stopped.
pub fn run(args: EchoArgs) -> anyhow::Result<ExitCode> {
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
        let mut requests =
            client.queue_subscribe(args.subject.clone(), "natsapi-echo".into()).await?;
        client.flush().await?;
        eprintln!("echo responder ready on {}", args.subject);
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                client.publish(reply, message.payload).await?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
