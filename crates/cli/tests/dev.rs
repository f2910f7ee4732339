//! `natsapi dev` as a new user meets it: busy default ports are replaced by free ones (explicit
//! ports are not), two instances with different subjects both come up, a NATS server already
//! running is named in a warning, the ingest data lives in the temporary directory, and the log
//! level given on the command line beats `RUST_LOG`, without colours when the output is a file.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::process::{Process, loopback_serve};
use natsapi_testkit::NatsServer;

/// Holds the default ports (8001, 8002, 8080) for as long as it lives; a port some other
/// process already holds is just as busy.
fn occupy_default_ports() -> Vec<TcpListener> {
    ["0.0.0.0:8001", "0.0.0.0:8002", "0.0.0.0:8080"]
        .iter()
        .filter_map(|addr| TcpListener::bind(addr).ok())
        .collect()
}

/// `natsapi req promises.read` of a missing promise on `subject`: true when a server answered
/// (404, exit code 1), false when none did (exit code 2).
fn answers_on(nats: &str, subject: &str) -> bool {
    let status = Command::new(env!("CARGO_BIN_EXE_natsapi"))
        .args(["req", "--server", nats, "--subject", subject, "--timeout", "5s"])
        .args(["promises.read", r#"{"id": "nobody"}"#])
        .output()
        .expect("natsapi req runs");
    status.status.code() == Some(1)
}

#[test]
fn two_dev_instances_come_up_on_free_ports_when_the_defaults_are_busy() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let _busy = occupy_default_ports();
    let url = nats.url();
    let mut instances: Vec<Process> = ["first.api", "second.api"]
        .iter()
        .map(|subject| {
            Process::start(&["dev", "--api-nats-addr", &url, "--api-nats-subject", subject], &[])
        })
        .collect();
    for (dev, subject) in instances.iter_mut().zip(["first.api", "second.api"]) {
        let ready = dev.wait_ready();
        for default in [":8001,", ":8002,", ":8080,"] {
            assert!(!ready.contains(default), "{ready}");
        }
        assert!(dev.log().contains("port in use; using a free one"), "{}", dev.log());
        assert!(answers_on(&url, subject), "{subject}:\n{}", dev.log());
        let log = dev.log();
        assert!(
            log.contains(&format!(
                "using the NATS server {} already running",
                natsapi_testkit::NATS_SERVER_PYPI_VERSION
            )) && log.contains("MESSAGES and MESSAGES_DLQ are created there and outlive"),
            "{log}"
        );
        assert!(!log.contains('\u{1b}'), "colours in a log file: {log}");
    }
    for mut dev in instances {
        dev.signal("TERM");
        assert!(dev.wait_exit(Duration::from_secs(15)).expect("it exits").success());
        let left: Vec<_> = std::fs::read_dir(dev.dir())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.contains("natsapi-ingest"))
            .collect();
        assert!(left.is_empty(), "ingest files left in the working directory: {left:?}");
    }
}

#[test]
fn an_explicit_busy_port_fails_naming_the_cause_once() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let mut dev =
        Process::start(&["dev", "--api-nats-addr", &nats.url(), "--api-http-addr", &addr], &[]);
    let status = dev.wait_exit(Duration::from_secs(30)).expect("it fails");
    assert!(!status.success());
    let log = dev.log();
    assert!(log.contains(&format!("cannot listen on {addr}")), "{log}");
    assert_eq!(log.matches("Address already in use").count(), 1, "{log}");
}

#[test]
fn the_log_level_flag_beats_rust_log() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let base = loopback_serve(&nats.url(), false);
    let run = |extra: &[&str]| {
        let args: Vec<&str> =
            base.iter().map(String::as_str).chain(extra.iter().copied()).collect();
        let mut process = Process::start(&args, &[("RUST_LOG", "debug")]);
        process.wait_ready();
        process.signal("TERM");
        process.wait_exit(Duration::from_secs(15)).expect("it exits");
        process.log()
    };
    let flagged = run(&["--log-level", "info"]);
    assert!(!flagged.contains(" DEBUG "), "--log-level info let RUST_LOG=debug through");
    assert!(flagged.contains(" INFO "), "{flagged}");
    let unflagged = run(&[]);
    assert!(unflagged.contains(" DEBUG "), "RUST_LOG applies when no level is given");
}

#[test]
fn a_second_signal_stops_dev_and_its_nats_server_at_once() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("nats://127.0.0.1:{port}");
    let nats_server = natsapi_testkit::nats_server_binary().unwrap();
    let mut dev = Process::start(
        &["dev", "--api-nats-addr", &url, "--api-nats-timeout", "60s"]
            .into_iter()
            .chain(["--api-http-addr", "127.0.0.1:0", "--poll-addr", "127.0.0.1:0"])
            .chain(["--ingest-addr", "127.0.0.1:0"])
            .collect::<Vec<_>>(),
        &[("NATS_SERVER_BIN", nats_server.to_str().unwrap())],
    );
    let http = dev.addr_of("HTTP API");
    assert!(dev.log().contains("started a nats-server child"), "{}", dev.log());
    // A request in flight keeps the first signal's drain waiting.
    let mut held = std::net::TcpStream::connect(http).unwrap();
    std::io::Write::write_all(
        &mut held,
        b"POST /promises HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 50\r\n\r\n{",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    dev.signal("TERM");
    assert!(dev.wait_exit(Duration::from_millis(500)).is_none(), "draining");
    dev.signal("INT");
    let status = dev.wait_exit(Duration::from_secs(3)).expect("the second signal ends it");
    assert_eq!(status.code(), Some(130), "{}", dev.log());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the nats-server child outlived dev"
    );
}
