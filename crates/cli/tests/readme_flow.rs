//! Runs the built `natsapi` binary the way the README does: `natsapi dev` starts its own
//! nats-server when none answers, `natsapi req` sends the seed's examples, SIGTERM stops both.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use natsapi_testkit::KillOnDrop;

const BIN: &str = env!("CARGO_BIN_EXE_natsapi");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn natsapi() -> Command {
    let mut command = Command::new(BIN);
    let binary = natsapi_testkit::nats_server_binary().expect("nats-server installed");
    command.env("NATS_SERVER_BIN", binary).env_remove("RUST_LOG").stdin(Stdio::null());
    command
}

fn req(url: &str, operation: &str, payload: &str) -> Output {
    natsapi()
        .args(["req", operation, payload, "--server", url, "--timeout", "2s"])
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn wait_for_server(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = req(url, "promises.read", r#"{"id":"probe"}"#);
        if probe.status.code() == Some(1) {
            return; // a 404 reply: the server answers
        }
        assert!(Instant::now() < deadline, "natsapi did not come up: {probe:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dev_starts_nats_and_answers_the_seed_examples() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let dev = natsapi()
        .args(["dev", "--api-nats-addr", &url, "--api-http-addr", "127.0.0.1:0"])
        .args(["--ingest-addr", "127.0.0.1:0"])
        .arg("--ingest-db")
        .arg(dir.path().join("ingest.db"))
        .args(["--poll-addr", "127.0.0.1:0"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut dev = KillOnDrop(dev);
    wait_for_server(&url);

    let created = req(
        &url,
        "promises.create",
        r#"{"id":"my-promise","timeout":3600000,"param":{"headers":{},"data":null},"tags":{"environment":"production"}}"#,
    );
    assert!(created.status.success(), "{created:?}");
    let created = json(&created);
    assert_eq!(created["status"], 201);
    assert_eq!(created["response"]["state"], "PENDING");

    let read = req(&url, "promises.read", r#"{"id":"my-promise"}"#);
    assert_eq!(json(&read)["response"]["tags"]["environment"], "production");

    let search = req(&url, "promises.search", r#"{"id":"my-*","states":["PENDING"],"limit":10}"#);
    assert_eq!(json(&search)["response"]["promises"][0]["id"], "my-promise");

    let complete = req(
        &url,
        "promises.complete",
        r#"{"id":"my-promise","state":"RESOLVED","value":{"headers":{},"data":"eyJyZXN1bHQiOiAic3VjY2VzcyJ9"}}"#,
    );
    assert_eq!(json(&complete)["response"]["state"], "RESOLVED");

    // The durable-execution flow: invoke task, claim, complete.
    let order = req(
        &url,
        "promises.create",
        r#"{"id":"order-1","timeout":3600000,"tags":{"resonate:invoke":"nats://workers.demo"}}"#,
    );
    assert_eq!(json(&order)["status"], 201);
    let claim = r#"{"id":"__invoke:order-1","counter":1,"processId":"worker-1","ttl":60000}"#;
    let claimed = req(&url, "tasks.claim", claim);
    assert_eq!(json(&claimed)["status"], 201, "{claimed:?}");
    assert_eq!(json(&claimed)["response"]["promises"]["root"]["id"], "order-1");
    let done = r#"{"id":"order-1","state":"RESOLVED","value":{"data":"ImRvbmUi"}}"#;
    assert_eq!(json(&req(&url, "promises.complete", done))["status"], 201);
    let task_done = req(&url, "tasks.complete", r#"{"id":"__invoke:order-1","counter":1}"#);
    assert_eq!(json(&task_done)["status"], 200, "{task_done:?}");

    let conflict = req(&url, "promises.create", r#"{"id":"my-promise","timeout":1}"#);
    assert_eq!(conflict.status.code(), Some(1), "success:false exits 1");
    assert_eq!(json(&conflict)["error"]["code"], 409);

    // SIGTERM stops natsapi, which stops its nats-server child.
    let pid = dev.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = dev.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "natsapi dev did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let after = req(&url, "promises.read", r#"{"id":"my-promise"}"#);
    assert_eq!(after.status.code(), Some(2), "nats-server child is gone");
}

#[test]
fn req_help_lists_every_operation() {
    let help = natsapi().args(["req", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for (operation, _) in natsapi_server::operations::OPERATIONS {
        assert!(help.contains(operation), "`natsapi req --help` does not list {operation}");
    }
}

#[test]
fn req_explains_why_no_reply_came() {
    let nats = natsapi_testkit::NatsServer::start().unwrap();
    let out = natsapi()
        .args(["req", "promises.read", r#"{"id":"x"}"#, "--server", &nats.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no responders"), "{out:?}");

    let out = natsapi()
        .args(["req", "promises.read", "{not json", "--server", &nats.url()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"), "{out:?}");
}

#[test]
fn bad_configuration_stops_startup_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("natsapi.yaml");
    std::fs::write(&file, "api:\n  subsystems:\n    nats:\n      subjct: x\n").unwrap();
    let out = natsapi().args(["serve", "--config", file.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("api.subsystems.nats.subjct"), "{stderr}");

    let help = natsapi().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--config",
        "--api-nats-enable",
        "--api-nats-addr",
        "--api-nats-subject",
        "--api-nats-timeout",
        "--api-http-enable",
        "--api-http-addr",
        "--poll-addr",
        "--store",
        "--store-sqlite-path",
    ] {
        assert!(help.contains(flag), "serve --help lacks {flag}");
    }
}
