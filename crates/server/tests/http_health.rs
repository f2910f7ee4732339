//! `/health` and `/metrics` on the HTTP listener.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::Harness;
use serde_json::json;

/// A minimal HTTP/1.0 GET: returns the status code and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn health_reports_process_nats_and_store() {
    let h = Harness::start().await;
    let addr = h.server().http_addr().unwrap();
    let (status, body) = tokio::task::spawn_blocking(move || get(addr, "/health")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "natsapi");
    assert_eq!(health["checks"], json!({"nats":"ok","store":"ok"}));
    h.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_status() {
    let h = Harness::start().await;
    h.call("promises.create", json!({"id":"m1","timeout":1000})).await;
    h.call("promises.read", json!({"id":"absent"})).await;
    let addr = h.server().http_addr().unwrap();
    let (status, body) = tokio::task::spawn_blocking(move || get(addr, "/metrics")).await.unwrap();
    assert_eq!(status, 200);
    let has = |needle: &str| body.lines().any(|l| l.contains(needle));
    assert!(
        has(r#"natsapi_requests_total{transport="nats",operation="promises.create",status="201"}"#),
        "{body}"
    );
    assert!(has(r#"operation="promises.read",status="404""#), "{body}");
    assert!(has("natsapi_request_duration_seconds_bucket"), "{body}");
    assert!(has("natsapi_requests_in_flight"), "{body}");
    h.stop().await;
}

#[tokio::test]
async fn health_is_503_naming_nats_while_it_is_down() {
    let mut h = Harness::start().await;
    let addr = h.server().http_addr().unwrap();
    h.nats.stop();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (status, health) = loop {
        let (status, body) =
            tokio::task::spawn_blocking(move || get(addr, "/health")).await.unwrap();
        if status != 200 || std::time::Instant::now() > deadline {
            break (status, serde_json::from_str::<serde_json::Value>(&body).unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "unavailable");
    assert_ne!(health["checks"]["nats"], "ok", "{health}");
    assert_eq!(health["checks"]["store"], "ok");
    h.nats.restart().unwrap();
    h.stop().await;
}
