//! The two `/health` routes of one `natsapi serve` (the API's HTTP listener and the ingest
//! gateway's) answer the same shape: `{status, service, version, checks: {nats, store}}`, 200
//! when every check is `ok`, and 503 naming NATS while it is down.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use natsapi_testkit::{KillOnDrop, NatsServer};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_natsapi");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The status and body of `GET url`, or `None` while nothing answers there.
async fn get(http: &reqwest::Client, url: &str) -> Option<(u16, Value)> {
    let response = http.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).ok()?))
}

/// Polls `url` until its status is `want` (30 s at most); answers the body.
async fn wait_for(http: &reqwest::Client, url: &str, want: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((status, body)) = get(http, url).await
            && status == want
        {
            return body;
        }
        assert!(Instant::now() < deadline, "{url} never answered {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The keys of `value`, and of each object inside it, as paths (`checks.nats`).
fn shape(value: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    if let Some(object) = value.as_object() {
        for (key, inner) in object {
            paths.push(key.clone());
            paths.extend(shape(inner).into_iter().map(|path| format!("{key}.{path}")));
        }
    }
    paths.sort();
    paths
}

#[tokio::test]
async fn the_api_and_the_ingest_gateway_answer_health_in_one_shape() {
    let mut nats = NatsServer::builder().jetstream(true).start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (api_port, ingest_port) = (free_port(), free_port());
    let child = Command::new(BIN)
        .args(["serve", "--api-nats-addr", &nats.url(), "--store", "memory"])
        .args(["--api-http-addr", &format!("127.0.0.1:{api_port}"), "--poll-enable=false"])
        .args(["--ingest-enable", "--ingest-addr", &format!("127.0.0.1:{ingest_port}")])
        .arg("--ingest-db")
        .arg(dir.path().join("ingest.db"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("natsapi serve starts");
    let _serve = KillOnDrop(child);
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{api_port}/health");
    let ingest = format!("http://127.0.0.1:{ingest_port}/health");

    let api_health = wait_for(&http, &api, 200).await;
    let ingest_health = wait_for(&http, &ingest, 200).await;
    assert_eq!(
        shape(&api_health),
        ["checks", "checks.nats", "checks.store", "service", "status", "version"]
    );
    assert_eq!(shape(&api_health), shape(&ingest_health), "{api_health} {ingest_health}");
    for health in [&api_health, &ingest_health] {
        assert_eq!(health["status"], "ok", "{health}");
        assert_eq!(health["checks"]["nats"], "ok", "{health}");
        assert_eq!(health["checks"]["store"], "ok", "{health}");
        assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    }
    assert_eq!(api_health["service"], "natsapi");
    assert_eq!(ingest_health["service"], "natsapi-ingest");

    // NATS down: both 503, in the same shape, naming NATS.
    nats.stop();
    let api_down = wait_for(&http, &api, 503).await;
    let ingest_down = wait_for(&http, &ingest, 503).await;
    assert_eq!(shape(&api_down), shape(&ingest_down), "{api_down} {ingest_down}");
    for health in [&api_down, &ingest_down] {
        assert_eq!(health["status"], "unavailable", "{health}");
        assert_ne!(health["checks"]["nats"], "ok", "{health}");
        assert_eq!(health["checks"]["store"], "ok", "{health}");
    }
    // NATS back before the process is killed.
    nats.restart().unwrap();
}
