//! The README's signed-call flow with the built binary: `natsapi dev` (gateway and worker),
//! `natsapi keygen`, `natsapi op` in both formats, `natsapi sign` for curl-style clients,
//! `GET /op/status`, and `natsapi query`, which checks the node's signature.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::Process;

const BIN: &str = env!("CARGO_BIN_EXE_natsapi");

fn natsapi(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("RUST_LOG").stdin(Stdio::null()).output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn status_of(base: &str, wallet: &str, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = format!("{base}/op/status/{wallet}/{id}");
        let body: serde_json::Value = common::process::http_get(
            url.trim_start_matches("http://").split('/').next().unwrap(),
            &url[url.find("/op/").unwrap()..],
        )
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
        if body["status"] == "applied" {
            return body;
        }
        assert!(Instant::now() < deadline, "{id} was not applied: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn keygen_op_sign_and_query_work_against_natsapi_dev() {
    let nats_port =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nats = format!("nats://127.0.0.1:{nats_port}");
    let binary = natsapi_testkit::nats_server_binary().expect("nats-server installed");
    let binary = binary.to_str().unwrap();
    let mut dev = Process::start(
        &["dev", "--api-nats-addr", &nats, "--api-http-addr", "127.0.0.1:0"]
            .into_iter()
            .chain(["--ingest-addr", "127.0.0.1:0", "--poll-addr", "127.0.0.1:0"])
            .collect::<Vec<_>>(),
        &[("NATS_SERVER_BIN", binary)],
    );
    let base = dev.url_of("ingest gateway");
    let base = base.replace("0.0.0.0", "127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("alice.key");
    let key = key.to_str().unwrap();
    let wallet = stdout(&natsapi(&["keygen", "--out", key])).trim().to_owned();
    assert!(wallet.starts_with("0x") && wallet.len() == 42, "{wallet}");
    assert!(!natsapi(&["keygen", "--out", key]).status.success(), "an existing key is kept");

    let call = r#"{"id":"track_comment.add.c1","method":"track_comment.add",
        "params":{"comment_id":"c1","track_id":123,"position_ms":3125,"comment":"sick drop"}}"#;
    let answer: serde_json::Value =
        serde_json::from_str(&stdout(&natsapi(&["op", "--key", key, "--url", &base, call])))
            .unwrap();
    assert_eq!(answer["status"], "accepted", "{answer}");
    assert_eq!(answer["wallet"], wallet.as_str());
    let edit = r#"{"id":"e1","method":"track_comment.update","params":{"comment_id":"c1","comment":"sick drop bro!"}}"#;
    let answer = natsapi(&["op", "--key", key, "--url", &base, "--format", "json", edit]);
    assert!(stdout(&answer).contains("\"accepted\""));
    // A refused call: exit 1, the gateway's error printed.
    let bad = natsapi(&["op", "--key", key, "--url", &base, r#"{"id":"x","method":"nope"}"#]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("unknown method"), "{bad:?}");

    // `natsapi sign` for other clients: the envelope on stdout, or the JSON body in a file and
    // its x-sig on stdout.
    let delete = r#"{"id":"d2","method":"track_comment.delete","params":{"comment_id":"c2"}}"#;
    let envelope = natsapi(&["sign", "--key", key, delete]);
    assert!(envelope.status.success());
    let opened = natsapi_client::rpc::open_msgpack(&envelope.stdout).unwrap();
    assert_eq!(opened.wallet.to_string(), wallet);
    let body = dir.path().join("call.json");
    let signature = stdout(&natsapi(&[
        "sign",
        "--key",
        key,
        "--format",
        "json",
        "--out",
        body.to_str().unwrap(),
        delete,
    ]));
    let opened =
        natsapi_client::rpc::open_json(&std::fs::read(&body).unwrap(), signature.trim()).unwrap();
    assert_eq!(opened.wallet.to_string(), wallet);

    let applied = status_of(&base, &wallet, "e1");
    assert!(applied["stream_sequence"].is_i64(), "{applied}");
    status_of(&base, &wallet, "track_comment.add.c1");

    let list = r#"{"id":"q1","method":"track_comment.list","params":{"track_id":123}}"#;
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&natsapi(&["query", "--key", key, "--url", &base, list])))
            .unwrap();
    assert_eq!(listed["result"]["comments"][0]["comment"], "sick drop bro!", "{listed}");
    // An answer signed by another node is refused.
    let other = "0x0000000000000000000000000000000000000001";
    let refused = natsapi(&["query", "--key", key, "--url", &base, "--node-wallet", other, list]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not by the node"), "{refused:?}");
    dev.signal("TERM");
    assert!(dev.wait_exit(Duration::from_secs(15)).is_some_and(|s| s.success()), "{}", dev.log());
}
