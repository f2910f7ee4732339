//! The one line a server process logs once every listener is bound: where each part listens, the
//! store, and a first thing to try.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use natsapi_client::connection::redact_addr;
use natsapi_config::{Settings, StoreKind};

/// Where the parts of a started process listen; `None` for a part that is not running.
#[derive(Debug, Default, Clone)]
pub struct Bound {
    /// The API's HTTP listener.
    pub http: Option<SocketAddr>,
    /// The SSE poll listener.
    pub poll: Option<SocketAddr>,
    /// The ingest gateway.
    pub ingest: Option<SocketAddr>,
    /// Where the ingest worker keeps its data, when a worker runs.
    pub worker_database: Option<natsapi_config::IngestDatabase>,
}

/// The ready line of a process running with `settings`, bound at `bound`.
pub fn line(settings: &Settings, bound: &Bound) -> String {
    let mut parts = Vec::new();
    let api = &settings.api;
    let promises = api.nats.enabled || bound.http.is_some() || bound.poll.is_some();
    if api.nats.enabled {
        let addr = redact_addr(&api.nats.addr);
        parts.push(format!("NATS {addr} on subject {}", api.nats.subject));
    }
    if let Some(http) = bound.http {
        parts.push(format!("HTTP API http://{http}"));
    }
    if let Some(poll) = bound.poll {
        parts.push(format!("SSE poll http://{poll}"));
    }
    if let Some(ingest) = bound.ingest {
        parts.push(format!("ingest gateway http://{ingest}"));
    }
    if let Some(database) = &bound.worker_database {
        let into = match database {
            natsapi_config::IngestDatabase::Sqlite(path) => path.display().to_string(),
            // The URL's Display masks its password.
            natsapi_config::IngestDatabase::Postgres(url) => format!("PostgreSQL {url}"),
        };
        parts.push(format!("worker on stream {} into {into}", settings.ingest.stream));
    }
    if promises {
        parts.push(match settings.store.kind {
            StoreKind::Memory => "store in memory (lost on exit)".to_owned(),
            StoreKind::Sqlite => format!("store SQLite {}", show(&settings.store.sqlite.path)),
            StoreKind::Postgres => match &settings.store.postgres.url {
                Some(url) => format!("store PostgreSQL {url}"),
                None => "store PostgreSQL".to_owned(),
            },
        });
    }
    let mut line = format!("natsapi ready: {}", parts.join(", "));
    if let Some(hint) = try_next(settings, bound) {
        line.push_str("; try: ");
        line.push_str(&hint);
    }
    line
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// A first command to try against the running process.
fn try_next(settings: &Settings, bound: &Bound) -> Option<String> {
    if settings.api.nats.enabled {
        let mut hint = String::from("natsapi req promises.read '{\"id\": \"hello\"}'");
        let addr = &settings.api.nats.addr;
        if addr != natsapi_config::DEFAULT_NATS_ADDR {
            // The password or token stays out of the log: the hint names where it goes.
            let shown = redact_addr(addr).replace("***", "<secret>");
            hint.push_str(&format!(" --server {shown}"));
        }
        if settings.api.nats.subject != natsapi_config::DEFAULT_NATS_SUBJECT {
            hint.push_str(&format!(" --subject {}", settings.api.nats.subject));
        }
        return Some(hint);
    }
    if let Some(http) = bound.http {
        return Some(format!("curl http://{}/health", reachable(http)));
    }
    bound.ingest.map(|ingest| {
        format!(
            "curl -X POST http://{}/ingest/message -d '{{\"entity_type\": \"order\"}}'",
            reachable(ingest)
        )
    })
}

/// The address a client on this machine connects to for a listener bound at `addr`: the
/// loopback address for a wildcard one.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use natsapi_config::{Mode, Settings};

    use super::*;

    #[test]
    fn names_every_listener_the_store_and_a_first_command() {
        let settings = Settings::defaults(Mode::Dev);
        let bound = Bound {
            http: Some("0.0.0.0:8001".parse().unwrap()),
            poll: Some("0.0.0.0:8002".parse().unwrap()),
            ingest: Some("0.0.0.0:38080".parse().unwrap()),
            worker_database: Some(natsapi_config::IngestDatabase::Sqlite(
                "/tmp/x/natsapi-ingest.db".into(),
            )),
        };
        assert_eq!(
            line(&settings, &bound),
            "natsapi ready: NATS nats://localhost:4222 on subject resonate.server, \
             HTTP API http://0.0.0.0:8001, SSE poll http://0.0.0.0:8002, \
             ingest gateway http://0.0.0.0:38080, \
             worker on stream MESSAGES into /tmp/x/natsapi-ingest.db, \
             store in memory (lost on exit); try: natsapi req promises.read '{\"id\": \"hello\"}'"
        );
    }

    #[test]
    fn a_lone_gateway_suggests_a_post() {
        let mut settings = Settings::defaults(Mode::Serve);
        settings.api.nats.enabled = false;
        let bound = Bound { ingest: Some("0.0.0.0:8080".parse().unwrap()), ..Bound::default() };
        let line = line(&settings, &bound);
        assert!(line.starts_with("natsapi ready: ingest gateway http://0.0.0.0:8080; try: curl"));
        assert!(line.contains("http://127.0.0.1:8080/ingest/message"), "{line}");
        assert!(!line.contains("store"), "{line}");
    }

    #[test]
    fn a_password_in_the_nats_address_is_not_shown() {
        let mut settings = Settings::defaults(Mode::Serve);
        settings.api.nats.addr = "nats://ops:s3cret@nats.internal:4222".into();
        let line = line(&settings, &Bound::default());
        assert!(!line.contains("s3cret"), "{line}");
        assert!(line.contains("--server nats://ops:<secret>@nats.internal:4222"), "{line}");
    }

    #[test]
    fn other_subjects_and_servers_show_in_the_hint() {
        let mut settings = Settings::defaults(Mode::Serve);
        settings.api.nats.subject = "orders.api".into();
        let line = line(&settings, &Bound::default());
        assert!(line.contains("store SQLite natsapi.db"), "{line}");
        assert!(line.ends_with("--subject orders.api"), "{line}");
    }
}
