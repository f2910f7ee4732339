//! Slow and silent HTTP clients cannot exhaust a listener: every HTTP port (the API, the SSE
//! poller, the ingest gateway) closes connections that do not send their headers in time or go
//! idle, caps its connections with a fast `503` and `Retry-After`, keeps answering real requests
//! meanwhile, and gives its memory back; SSE streams outlive the idle timeout.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::process::{Process, loopback_serve};
use natsapi_testkit::NatsServer;

/// Short timeouts, so that slow clients are closed quickly.
const SHORT_TIMEOUTS: &str =
    "headerReadTimeout: 1s\n      idleTimeout: 2s\n      maxConnections: 700";

/// A small connection cap, and timeouts that keep held connections open for the whole test.
const SMALL_CAP: &str = "headerReadTimeout: 60s\n      idleTimeout: 60s\n      maxConnections: 50";

/// `natsapi serve` with HTTP, poll and the ingest gateway, each bounded by `limits` (YAML keys
/// of a listener, indented for `api.subsystems.*`).
fn start(nats: &NatsServer, limits: &str) -> Process {
    let dir = tempfile::tempdir().unwrap();
    let limits_gateway = limits.replace("      ", "    ");
    std::fs::write(
        dir.path().join("natsapi.yaml"),
        format!(
            "api:\n  subsystems:\n    http:\n      {limits}\n    poll:\n      {limits}\n\
             ingest:\n  gateway:\n    {limits_gateway}\n"
        ),
    )
    .unwrap();
    let mut args = loopback_serve(&nats.url(), true);
    args.extend(["--config", "natsapi.yaml", "--ingest-db", "ingest.db"].map(str::to_owned));
    let mut process =
        Process::start_in(dir, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    process.wait_ready();
    process
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One request on a fresh connection; the status line of the answer.
fn status_of(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned()
}

fn get(addr: SocketAddr, path: &str) -> String {
    status_of(addr, &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"))
}

/// Whether a status line is the route's own answer (200, or 404 for the poll port's unknown
/// route), not a refusal or nothing.
fn answered(status: &str) -> bool {
    status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.1 404")
}

/// Whether the server has closed `stream` (what it sent before is read and ignored: the poll
/// and ingest ports answer a request for a route they lack before closing).
fn closed(mut stream: &TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                use std::io::ErrorKind::{TimedOut, WouldBlock};
                return !matches!(e.kind(), WouldBlock | TimedOut);
            }
        }
    }
}

#[test]
fn slow_connections_are_closed_and_real_requests_keep_being_answered() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let mut process = start(&nats, SHORT_TIMEOUTS);
    let ports = [
        (process.addr_of("HTTP API"), "/health"),
        // Not a stream (those never end): an unknown route, answered at once.
        (process.addr_of("SSE poll"), "/"),
        (process.addr_of("ingest gateway"), "/health"),
    ];
    for (addr, path) in ports {
        assert!(answered(&get(addr, path)), "{addr}{path}");
    }
    let baseline = rss_kib(process.pid());
    // 500 slow clients spread over the ports: silent, sending a header byte at a time, or
    // stalling in the middle of a body.
    let mut slow: Vec<TcpStream> = Vec::new();
    for i in 0..500 {
        let (addr, _) = ports[(i / 3) % 3];
        let mut stream = TcpStream::connect(addr).expect("connects");
        match i % 3 {
            0 => {}
            1 => stream.write_all(b"GET /hea").unwrap(),
            // A body stalled after its first byte, on a route that reads it.
            _ => {
                let path =
                    if i % 3 == 2 && addr == ports[2].0 { "/ingest/message" } else { "/promises" };
                write!(
                    stream,
                    "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                     content-length: 100\r\n\r\n{{"
                )
                .unwrap();
            }
        }
        slow.push(stream);
    }
    let opened = Instant::now();
    // Real requests are answered while they are open, on every port.
    for (addr, path) in ports {
        let status = get(addr, path);
        assert!(answered(&status), "{addr}{path} while slow clients wait: {status:?}");
    }
    let create = "POST /promises HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
                  content-type: application/json\r\ncontent-length: 36\r\n\r\n\
                  {\"id\": \"real\", \"timeout\": 3600000}  ";
    assert_eq!(status_of(ports[0].0, create), "HTTP/1.1 201 Created");
    let peak = rss_kib(process.pid());
    // Closed after the header timeout (1 s) or the idle timeout (2 s), with room for a loaded
    // machine; the clients sending their headers a byte at a time go on doing so meanwhile,
    // which does not keep a connection whose headers are late.
    let deadline = opened + Duration::from_secs(8);
    loop {
        for stream in slow.iter_mut().skip(1).step_by(3) {
            let _ = stream.write_all(b"l");
        }
        let open = slow.iter().filter(|s| !closed(s)).count();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} slow connections still open after 8 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(opened.elapsed() >= Duration::from_millis(900), "not closed before the timeout");
    drop(slow);
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(process.pid());
    eprintln!(
        "RSS: baseline {baseline} KiB, with 500 slow connections {peak} KiB, after {after} KiB"
    );
    assert!(peak < baseline + 64 * 1024, "500 connections cost {} KiB", peak - baseline);
    assert!(after < baseline + 16 * 1024, "memory after: {after} KiB, baseline {baseline} KiB");
    for (addr, path) in ports {
        assert!(answered(&get(addr, path)), "{addr}{path} afterwards");
    }
}

#[test]
fn connections_over_the_cap_get_a_fast_503_with_retry_after() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let mut process = start(&nats, SMALL_CAP);
    let addr = process.addr_of("HTTP API");
    let held: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Once the server has accepted them all, a new connection is refused at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        let asked = Instant::now();
        let mut stream = TcpStream::connect(addr).expect("connects");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        if response.starts_with("HTTP/1.1 503") {
            assert!(asked.elapsed() < Duration::from_secs(1), "answered at once");
            break response;
        }
        assert!(Instant::now() < deadline, "never refused: {response}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(response.to_ascii_lowercase().contains("retry-after: 1"), "{response}");
    assert!(response.contains("limit of 50 connections"), "{response}");
    drop(held);
    // Slots free up as the held connections close.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !get(addr, "/health").starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "the listener never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_sse_stream_outlives_the_idle_timeout() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let mut process = start(&nats, SHORT_TIMEOUTS);
    let mut stream = TcpStream::connect(process.addr_of("SSE poll")).unwrap();
    stream.write_all(b"GET /workers/w1 HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert!(!closed(&stream), "an SSE stream was closed as idle (its keep-alives are traffic)");
}

#[test]
fn a_request_the_server_works_on_longer_than_the_idle_timeout_is_answered() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("natsapi.yaml"),
        "api:\n  subsystems:\n    http:\n      idleTimeout: 1s\n",
    )
    .unwrap();
    let db = dir.path().join("promises.db");
    let url = nats.url();
    let mut process = Process::start_in(
        dir,
        &["serve", "--config", "natsapi.yaml", "--api-nats-addr", &url, "--store", "sqlite"]
            .into_iter()
            .chain(["--store-sqlite-path", "promises.db", "--api-http-addr", "127.0.0.1:0"])
            .chain(["--poll-enable=false"])
            .collect::<Vec<_>>(),
        &[],
    );
    let addr = process.addr_of("HTTP API");
    // Another process holds the database's write lock for three idle timeouts: the write waits.
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let create = "POST /promises HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
                  content-type: application/json\r\ncontent-length: 38\r\n\r\n\
                  {\"id\": \"waited\", \"timeout\": 3600000}  ";
    let asked = Instant::now();
    let answer = std::thread::spawn(move || status_of(addr, create));
    std::thread::sleep(Duration::from_secs(3));
    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(answer.join().unwrap(), "HTTP/1.1 201 Created", "the connection was closed as idle");
    assert!(asked.elapsed() >= Duration::from_secs(3));
}

#[test]
fn the_connection_caps_fit_under_the_open_files_limit() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let url = nats.url();
    // 256 open files, soft and hard: the default caps (3 x 1024) cannot all be met.
    let mut process = Process::start_with_open_files(
        256,
        &["serve", "--api-nats-addr", &url, "--store", "memory", "--ingest-enable"]
            .into_iter()
            .chain(["--api-http-addr", "127.0.0.1:0", "--poll-addr", "127.0.0.1:0"])
            .chain(["--ingest-addr", "127.0.0.1:0", "--ingest-db", "ingest.db"])
            .collect::<Vec<_>>(),
    );
    let addr = process.addr_of("HTTP API");
    assert!(process.log().contains("the open-files limit is below"), "{}", process.log());
    // More connections than the process has files: those over the cap are answered at once.
    let held: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let status = get(addr, "/health");
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    assert!(asked.elapsed() < Duration::from_secs(2), "answered in {:?}", asked.elapsed());
    drop(held);
}
