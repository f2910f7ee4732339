//! Every way natsapi authenticates to NATS and secures the connection, against a real nats-server
//! configured for it: the built `natsapi serve` (and `ingest`, `worker`) connects with the
//! option and answers `natsapi req`, which connects with the same option; without it, or with a
//! wrong one, the connection fails with an error that names the cause. Keys, JWTs and
//! certificates are made in each test. `permissions` runs the README's deployment configuration.

mod certs;
#[path = "../common/mod.rs"]
mod common;
mod credentials;
mod permissions;
mod tls;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use natsapi_testkit::KillOnDrop;

const BIN: &str = env!("CARGO_BIN_EXE_natsapi");

/// `natsapi` with the test's nats-server binary and none of the connection variables this
/// process may have inherited.
fn natsapi() -> Command {
    let mut command = Command::new(BIN);
    let binary = natsapi_testkit::nats_server_binary().expect("nats-server installed");
    command.env("NATS_SERVER_BIN", binary).env_remove("RUST_LOG").stdin(Stdio::null());
    for name in natsapi_config::CONNECTION_ENV {
        command.env_remove(name);
    }
    command
}

/// `natsapi serve` (memory store, no HTTP) on `url`, with the connection flags `connection`.
fn serve(url: &str, connection: &[&str]) -> KillOnDrop {
    serve_with(natsapi(), url, connection)
}

/// Like [`serve`], from a prepared command (e.g. with connection variables set).
fn serve_with(mut command: Command, url: &str, connection: &[&str]) -> KillOnDrop {
    let child = command
        .args(["serve", "--api-nats-addr", url, "--store", "memory"])
        .args(["--api-http-enable=false", "--poll-enable=false"])
        .args(connection)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("natsapi serve starts");
    KillOnDrop(child)
}

/// `natsapi req promises.read` of a promise that does not exist, on `url` with `connection`:
/// exit code 1 and a 404 when natsapi answered.
fn req(url: &str, connection: &[&str]) -> Output {
    req_with(natsapi(), url, connection)
}

/// Like [`req`], from a prepared command.
fn req_with(mut command: Command, url: &str, connection: &[&str]) -> Output {
    command
        .args(["req", "promises.read", r#"{"id":"probe"}"#, "--server", url, "--timeout", "2s"])
        .args(connection)
        .output()
        .expect("natsapi req runs")
}

/// Whether `output` is natsapi's 404 for the probe.
fn answered(output: &Output) -> bool {
    output.status.code() == Some(1)
        && serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .is_ok_and(|reply| reply["error"]["code"] == 404)
}

/// Sends the probe until natsapi answers it (it may still be starting); panics after 30 s.
fn assert_answers(url: &str, connection: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = req(url, connection);
        if answered(&output) {
            return;
        }
        assert!(Instant::now() < deadline, "natsapi did not answer: {}", describe(&output));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The probe fails to connect (exit code 2) and says why; returns what it said.
fn assert_refused(url: &str, connection: &[&str], cause: &str) -> String {
    let output = req(url, connection);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.contains("cannot connect to NATS") && stderr.contains(cause), "{stderr}");
    stderr
}

/// `natsapi serve` on `url` with `connection` exits at once, non-zero, saying `cause`.
fn assert_serve_refused(url: &str, connection: &[&str], cause: &str) {
    let mut child = natsapi()
        .args(["serve", "--api-nats-addr", url, "--store", "memory"])
        .args(["--api-http-enable=false", "--poll-enable=false"])
        .args(connection)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natsapi serve starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("natsapi serve kept running with {connection:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(cause), "serve with {connection:?} should say {cause:?}: {stderr}");
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes `text` to `name` in `dir` and returns the path as text.
fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path.to_str().expect("UTF-8 path").to_owned()
}
