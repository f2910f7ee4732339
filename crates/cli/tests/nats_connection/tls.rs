//! TLS: the server's certificate verified with a CA file, `tls://` URLs, mutual TLS (also for
//! the ingest gateway and worker), and the TLS-first handshake.

use std::process::Stdio;
use std::time::{Duration, Instant};

use natsapi_testkit::{KillOnDrop, NatsServer};

use super::certs::Pki;
use super::{assert_answers, assert_refused, assert_serve_refused, natsapi, serve};

#[test]
fn the_server_certificate_is_verified_with_the_ca_file_on_tls_and_nats_urls() {
    let pki = Pki::new();
    let nats = NatsServer::builder()
        .jetstream(false)
        .config_line(pki.server_tls(""))
        .start()
        .expect("nats-server with TLS");
    let ca = ["--api-nats-tls-ca", pki.ca.as_str()];

    // The server says it requires TLS, so a nats:// URL works as well as tls://.
    let _server = serve(&nats.tls_url(), &ca);
    assert_answers(&nats.url(), &ca);
    assert_answers(&nats.tls_url(), &ca);

    // Without the CA the certificate is not trusted; without TLS the server refuses.
    assert_refused(&nats.tls_url(), &[], "invalid peer certificate");
    assert_serve_refused(&nats.url(), &[], "invalid peer certificate");
    let other = Pki::new();
    assert_refused(&nats.url(), &["--api-nats-tls-ca", &other.ca], "invalid peer certificate");
}

#[test]
fn a_tls_setting_never_falls_back_to_plain_text() {
    let pki = Pki::new();
    let plain = NatsServer::builder().jetstream(false).start().expect("nats-server");
    // The TLS handshake meets the server's plain-text greeting.
    assert_refused(&plain.url(), &["--api-nats-tls-ca", &pki.ca], "received corrupt message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_serves_the_api_and_the_ingest_gateway_and_worker() {
    let pki = Pki::new();
    let nats = NatsServer::builder()
        .jetstream(true)
        .config_line(pki.server_tls(&format!("  ca_file: \"{}\"\n  verify: true\n", pki.ca)))
        .start()
        .expect("nats-server requiring client certificates");
    let mutual = [
        "--api-nats-tls-ca",
        pki.ca.as_str(),
        "--api-nats-tls-cert",
        pki.client_cert.as_str(),
        "--api-nats-tls-key",
        pki.client_key.as_str(),
    ];
    let url = nats.tls_url();
    let _server = serve(&url, &mutual);
    assert_answers(&url, &mutual);
    // The server asks for a client certificate and closes the connection without one.
    assert_refused(&url, &["--api-nats-tls-ca", &pki.ca], "CertificateRequired");

    // The gateway and the worker in one process, their settings from the environment.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let _ingest = KillOnDrop(
        natsapi()
            .args(["serve", "--api-nats-enable=false", "--api-http-enable=false"])
            .args(["--poll-enable=false", "--ingest-enable", "--worker-enable"])
            .args(["--api-nats-addr", &url])
            .args(["--ingest-addr", &format!("127.0.0.1:{port}")])
            .arg("--ingest-db")
            .arg(dir.path().join("ingest.db"))
            .env("NATSAPI_API_NATS_TLS_CA", &pki.ca)
            .env("NATSAPI_API_NATS_TLS_CERT", &pki.client_cert)
            .env("NATSAPI_API_NATS_TLS_KEY", &pki.client_key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("natsapi serve starts"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/ready")).send().await.map_or(true, |r| r.status() != 200) {
        assert!(Instant::now() < deadline, "the ingest gateway never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let accepted = http
        .post(format!("{base}/ingest/message"))
        .body(r#"{"entity_type":"order","order_id":"1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let accepted: serde_json::Value = accepted.json().await.unwrap();
    let id = accepted["message_id"].as_str().unwrap().to_owned();
    crate::common::gateway::wait_for_status(&base, &id, "processed", deadline).await;
}

#[test]
fn tls_first_connects_to_a_server_that_expects_the_handshake_first() {
    let pki = Pki::new();
    let nats = NatsServer::builder()
        .jetstream(false)
        .config_line(pki.server_tls("  handshake_first: true\n"))
        .start()
        .expect("nats-server with handshake_first");
    let first = ["--api-nats-tls-ca", pki.ca.as_str(), "--api-nats-tls-first"];
    let _server = serve(&nats.tls_url(), &first);
    assert_answers(&nats.tls_url(), &first);

    // A client waiting for the server's first message gets none.
    assert_refused(&nats.tls_url(), &["--api-nats-tls-ca", &pki.ca], "expected INFO, got nothing");
    assert_serve_refused(&nats.tls_url(), &["--api-nats-tls-ca", &pki.ca], "expected INFO");
}
