//! Stopping a server process: every listener stops taking work at the first signal, requests in
//! flight are answered, the process exits within the drain timeout plus a moment in every state
//! (NATS reachable or not), a second signal exits at once, and a start that fails on a busy port
//! has never joined the queue group.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::process::{Process, assert_never_subscribed, loopback_serve};
use natsapi_testkit::NatsServer;

/// `natsapi ROLE` on `nats` with every listener on a free loopback port and a drain timeout of
/// `drain`.
fn start(role: &str, nats: &str, drain: &str, extra: &[&str]) -> Process {
    let mut args =
        vec![role, "--api-nats-addr", nats, "--api-nats-timeout", drain, "--log-level", "info"];
    if matches!(role, "serve" | "dev") {
        args.extend(["--api-http-addr", "127.0.0.1:0", "--poll-addr", "127.0.0.1:0"]);
        args.extend(["--store", "memory"]);
    }
    if matches!(role, "dev" | "ingest") {
        args.extend(["--ingest-addr", "127.0.0.1:0"]);
    }
    if matches!(role, "ingest" | "worker") {
        args.extend(["--ingest-db", "ingest.db"]);
    }
    args.extend(extra);
    let mut process = Process::start(&args, &[]);
    process.wait_ready();
    process
}

#[test]
fn every_role_exits_within_the_drain_timeout_when_nats_is_gone() {
    for role in ["serve", "dev", "ingest", "worker"] {
        let mut nats = NatsServer::builder().jetstream(true).start().unwrap();
        let mut process = start(role, &nats.url(), "2s", &[]);
        nats.stop();
        // Give the clients a moment to notice.
        std::thread::sleep(Duration::from_millis(300));
        let signalled = Instant::now();
        process.signal("TERM");
        let status = process.wait_exit(Duration::from_secs(3));
        let took = signalled.elapsed();
        let status = status.unwrap_or_else(|| {
            panic!("natsapi {role} still runs 3 s after SIGTERM with NATS gone:\n{}", process.log())
        });
        assert!(status.success(), "natsapi {role}: {status}\n{}", process.log());
        assert!(took < Duration::from_secs(3), "natsapi {role} took {took:?}");
    }
}

#[test]
fn a_request_in_flight_while_nats_is_gone_holds_the_exit_no_longer_than_the_drain_timeout() {
    let mut nats = NatsServer::builder().jetstream(true).start().unwrap();
    let mut process = start("serve", &nats.url(), "2s", &[]);
    let _in_flight = HalfSent::open(process.addr_of("HTTP API"));
    nats.stop();
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    process.signal("TERM");
    let status = process.wait_exit(Duration::from_secs(4)).unwrap_or_else(|| {
        panic!("still running 4 s after SIGTERM:\n{}", process.log());
    });
    let took = signalled.elapsed();
    assert!(status.success(), "{status}\n{}", process.log());
    assert!(took >= Duration::from_secs(2), "the request in flight was not waited for: {took:?}");
    assert!(took < Duration::from_secs(3), "drain timeout 2 s, exit after {took:?}");
}

#[test]
fn with_idle_listeners_the_exit_takes_milliseconds() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    for extra in [&["--api-http-enable=false", "--poll-enable=false"][..], &[][..]] {
        let mut process = start("serve", &nats.url(), "10s", extra);
        let signalled = Instant::now();
        process.signal("TERM");
        let status = process.wait_exit(Duration::from_secs(5)).expect("it exits");
        assert!(status.success(), "{status}\n{}", process.log());
        let took = signalled.elapsed();
        // Milliseconds; the bound leaves room for a loaded 2-core machine.
        assert!(took < Duration::from_millis(800), "took {took:?} with {extra:?}");
    }
}

/// An HTTP request whose body has not all been sent: in flight until [`finish`] sends the rest.
struct HalfSent(TcpStream);

impl HalfSent {
    fn open(addr: std::net::SocketAddr) -> HalfSent {
        let body = r#"{"id": "in-flight", "timeout": 3600000}"#;
        let mut stream = TcpStream::connect(addr).expect("connects");
        write!(
            stream,
            "POST /promises HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{}",
            body.len(),
            &body[..10]
        )
        .unwrap();
        HalfSent(stream)
    }

    /// Sends the rest of the body and returns the response's status line.
    fn finish(mut self) -> String {
        let body = r#"{"id": "in-flight", "timeout": 3600000}"#;
        self.0.write_all(&body.as_bytes()[10..]).unwrap();
        self.0.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut response = [0u8; 512];
        let n = self.0.read(&mut response).expect("a response");
        String::from_utf8_lossy(&response[..n]).lines().next().unwrap_or_default().to_owned()
    }
}

#[test]
fn the_first_signal_closes_every_listener_while_requests_in_flight_are_answered() {
    let mut nats = NatsServer::builder().jetstream(true).start().unwrap();
    let mut process = start("serve", &nats.url(), "30s", &["--ingest-enable"]);
    let http = process.addr_of("HTTP API");
    let poll = process.addr_of("SSE poll");
    let ingest = process.addr_of("ingest gateway");
    let in_flight = HalfSent::open(http);
    // The request has reached the server before the signal. NATS is gone, so that stopping
    // its part cannot finish early: the listeners must close regardless.
    std::thread::sleep(Duration::from_millis(200));
    nats.stop();
    std::thread::sleep(Duration::from_millis(200));
    process.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(2);
    for (name, addr) in [("HTTP API", http), ("poll", poll), ("ingest gateway", ingest)] {
        while TcpStream::connect(addr).is_ok() {
            assert!(Instant::now() < deadline, "the {name} listener still accepts after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(process.wait_exit(Duration::from_millis(300)).is_none(), "a request is in flight");
    assert_eq!(in_flight.finish(), "HTTP/1.1 201 Created");
    let status = process.wait_exit(Duration::from_secs(5)).expect("it exits once answered");
    assert!(status.success(), "{status}\n{}", process.log());
}

#[test]
fn a_second_signal_exits_at_once() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let mut process = start("serve", &nats.url(), "30s", &[]);
    let _in_flight = HalfSent::open(process.addr_of("HTTP API"));
    std::thread::sleep(Duration::from_millis(200));
    process.signal("TERM");
    assert!(process.wait_exit(Duration::from_millis(500)).is_none(), "draining");
    let signalled = Instant::now();
    process.signal("INT");
    let status = process.wait_exit(Duration::from_secs(2)).expect("the second signal ends it");
    assert_eq!(status.code(), Some(130), "128 + SIGINT\n{}", process.log());
    assert!(signalled.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_busy_port_fails_the_start_before_the_queue_group_is_joined() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    for busy_one in ["--api-http-addr", "--poll-addr", "--ingest-addr"] {
        let mut args = loopback_serve(&nats.url(), true);
        let at = args.iter().position(|a| a == busy_one).expect("the flag") + 1;
        args[at] = busy_addr.clone();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut process = Process::start(&args, &[]);
        let status = process.wait_exit(Duration::from_secs(30)).expect("it fails");
        assert!(!status.success());
        let log = process.log();
        assert!(log.contains(&format!("cannot listen on {busy_addr}")), "{busy_one}: {log}");
        assert_eq!(log.matches("Address already in use").count(), 1, "the cause once: {log}");
        assert!(!log.contains("natsapi ready"), "{log}");
    }
    assert_never_subscribed(&nats);
}

#[test]
fn an_ingest_start_that_fails_fails_before_the_queue_group_is_joined() {
    // No JetStream: the ingest streams cannot be created.
    let nats = NatsServer::builder().jetstream(false).start().unwrap();
    let args = loopback_serve(&nats.url(), true);
    let mut process = Process::start(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let status = process.wait_exit(Duration::from_secs(30)).expect("it fails");
    assert!(!status.success(), "{}", process.log());
    assert!(!process.log().contains("natsapi ready"), "{}", process.log());
    assert_never_subscribed(&nats);
}
