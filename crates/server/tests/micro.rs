//! The NATS micro-service discovery verbs (`$SRV.PING|INFO|STATS`) answered by
//! `natsapi_server::micro`, against a real nats-server: every instance answers, the id subject
//! reaches one, STATS follows the recorded requests, and the replies parse with async-nats's and
//! nats-py's micro types.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use futures::StreamExt;
use natsapi_server::micro::{MicroConfig, MicroError, MicroService, rfc3339_micros};
use natsapi_testkit::NatsServer;
use serde_json::{Value, json};

fn config() -> MicroConfig {
    MicroConfig {
        name: "natsapi".into(),
        version: "1.2.3".into(),
        description: "Durable promises over NATS".into(),
        endpoint_name: "api".into(),
        subject: "resonate.server".into(),
        queue_group: "natsapi".into(),
        metadata: HashMap::from([("region".to_owned(), "eu".to_owned())]),
        endpoint_metadata: HashMap::new(),
    }
}

async fn connect(nats: &NatsServer) -> async_nats::Client {
    async_nats::connect(nats.url()).await.expect("connects")
}

async fn start(nats: &NatsServer) -> MicroService {
    let client = connect(nats).await;
    let service = MicroService::start(client.clone(), config()).await.expect("service starts");
    client.flush().await.unwrap();
    service
}

/// Sends one request to `subject` with an inbox as reply subject and collects every reply:
/// `expected` of them, then whatever else arrives within a quiet period. The server's "no
/// responders" status (when nothing is subscribed) is not a reply.
async fn collect(client: &async_nats::Client, subject: &str, expected: usize) -> Vec<Value> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.publish_with_reply(subject.to_owned(), inbox, "".into()).await.unwrap();
    let mut out = Vec::new();
    loop {
        let wait = if out.len() < expected { 5000 } else { 300 };
        let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(wait), replies.next()).await
        else {
            return out;
        };
        if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            continue;
        }
        out.push(serde_json::from_slice(&message.payload).expect("reply is JSON"));
    }
}

fn ids(replies: &[Value]) -> HashSet<String> {
    replies.iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect()
}

#[test]
fn rfc3339_micros_formats_utc_with_six_fraction_digits() {
    let at = |secs: u64, micros: u64| {
        rfc3339_micros(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
    };
    assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
    assert_eq!(at(1_700_000_000, 123_456), "2023-11-14T22:13:20.123456Z");
    assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
    assert_eq!(at(951_868_799, 999_999), "2000-02-29T23:59:59.999999Z");
    assert_eq!(at(1_709_164_800, 0), "2024-02-29T00:00:00.000000Z");
    assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000000Z");
    assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59.000000Z");
    // Nanoseconds are truncated, not rounded.
    let t = UNIX_EPOCH + Duration::new(86_399, 999_999_999);
    assert_eq!(rfc3339_micros(t), "1970-01-01T23:59:59.999999Z");
    // Every day of four centuries against a plain day-by-day count.
    let mut date = (1970u64, 1u64, 1u64);
    for day in 0..146_097u64 {
        let expected = format!("{:04}-{:02}-{:02}T00:00:00.000000Z", date.0, date.1, date.2);
        assert_eq!(at(day * 86_400, 0), expected, "day {day}");
        let leap =
            date.0.is_multiple_of(4) && (!date.0.is_multiple_of(100) || date.0.is_multiple_of(400));
        let len = match date.1 {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        date = if date.2 < len {
            (date.0, date.1, date.2 + 1)
        } else if date.1 < 12 {
            (date.0, date.1 + 1, 1)
        } else {
            (date.0 + 1, 1, 1)
        };
    }
}

#[tokio::test]
async fn invalid_config_is_rejected() {
    let nats = NatsServer::start().unwrap();
    let client = connect(&nats).await;
    for (field, mutate) in [
        ("name", Box::new(|c: &mut MicroConfig| c.name = "nats.api".into()) as Box<dyn Fn(&mut _)>),
        ("name", Box::new(|c: &mut MicroConfig| c.name = String::new())),
        ("endpoint name", Box::new(|c: &mut MicroConfig| c.endpoint_name = "a*".into())),
        ("version", Box::new(|c: &mut MicroConfig| c.version = "1.0".into())),
        ("version", Box::new(|c: &mut MicroConfig| c.version = "01.0.0".into())),
        ("subject", Box::new(|c: &mut MicroConfig| c.subject = String::new())),
        ("queue group", Box::new(|c: &mut MicroConfig| c.queue_group = "a b".into())),
    ] {
        let mut c = config();
        mutate(&mut c);
        match MicroService::start(client.clone(), c).await {
            Err(MicroError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }
    for version in ["0.1.0", "1.0.0-rc.1", "1.0.0+build.5", "1.0.0-alpha-1+x.y"] {
        let mut c = config();
        c.version = version.into();
        let service = MicroService::start(client.clone(), c).await.expect(version);
        service.stop().await;
    }
}

#[tokio::test]
async fn every_instance_answers_ping_and_the_id_subject_reaches_one() {
    let nats = NatsServer::start().unwrap();
    let a = start(&nats).await;
    let b = start(&nats).await;
    assert_ne!(a.id(), b.id());
    let both: HashSet<String> = [a.id().to_owned(), b.id().to_owned()].into();
    let client = connect(&nats).await;

    for subject in ["$SRV.PING", "$SRV.PING.natsapi"] {
        let pongs = collect(&client, subject, 2).await;
        assert_eq!(pongs.len(), 2, "{subject}: {pongs:?}");
        assert_eq!(ids(&pongs), both, "{subject}");
        for pong in &pongs {
            assert_eq!(
                pong,
                &json!({
                    "type": "io.nats.micro.v1.ping_response",
                    "name": "natsapi",
                    "id": pong["id"],
                    "version": "1.2.3",
                    "metadata": {"region": "eu"},
                })
            );
        }
    }
    // Another service name is not us.
    assert!(collect(&client, "$SRV.PING.other", 0).await.is_empty());

    for verb in ["PING", "INFO", "STATS"] {
        let subject = format!("$SRV.{verb}.natsapi.{}", a.id());
        let replies = collect(&client, &subject, 1).await;
        assert_eq!(replies.len(), 1, "{subject}: {replies:?}");
        assert_eq!(replies[0]["id"], a.id(), "{subject}");
        assert_eq!(
            replies[0]["type"],
            format!("io.nats.micro.v1.{}_response", verb.to_lowercase())
        );
    }

    // A request without a reply subject is ignored, and the responder carries on.
    client.publish("$SRV.PING.natsapi", "".into()).await.unwrap();
    client.publish(format!("$SRV.STATS.natsapi.{}", b.id()), "".into()).await.unwrap();
    assert_eq!(ids(&collect(&client, "$SRV.PING.natsapi", 2).await), both);

    // A stopped instance no longer answers; the other still does.
    let a_id = a.id().to_owned();
    a.stop().await;
    for subject in ["$SRV.PING".to_owned(), "$SRV.INFO.natsapi".into(), "$SRV.STATS".into()] {
        let replies = collect(&client, &subject, 1).await;
        assert_eq!(ids(&replies), HashSet::from([b.id().to_owned()]), "{subject}");
    }
    assert!(collect(&client, &format!("$SRV.PING.natsapi.{a_id}"), 0).await.is_empty());

    // Dropped without stop: drains in the background.
    let b_id = b.id().to_owned();
    drop(b);
    let mut last = Vec::new();
    for _ in 0..20 {
        last = collect(&client, "$SRV.PING.natsapi", 0).await;
        if last.is_empty() {
            break;
        }
    }
    assert!(last.is_empty(), "{b_id} still answers: {last:?}");
}

#[tokio::test]
async fn info_lists_the_endpoint() {
    let nats = NatsServer::start().unwrap();
    let service = start(&nats).await;
    let client = connect(&nats).await;
    let info = client.request("$SRV.INFO.natsapi", "".into()).await.unwrap();
    let json: Value = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(
        json,
        json!({
            "type": "io.nats.micro.v1.info_response",
            "name": "natsapi",
            "id": service.id(),
            "version": "1.2.3",
            "metadata": {"region": "eu"},
            "description": "Durable promises over NATS",
            "endpoints": [{
                "name": "api",
                "subject": "resonate.server",
                "queue_group": "natsapi",
                "metadata": {},
            }],
        })
    );
    // async-nats's own client types read it.
    let parsed: async_nats::service::Info = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(parsed.id, service.id());
    assert_eq!(parsed.endpoints[0].queue_group, "natsapi");
    service.stop().await;
}

#[tokio::test]
async fn stats_follow_recorded_requests() {
    let nats = NatsServer::start().unwrap();
    let service = start(&nats).await;
    let client = connect(&nats).await;
    let subject = format!("$SRV.STATS.natsapi.{}", service.id());

    let stats = |payload: &[u8]| -> Value { serde_json::from_slice(payload).unwrap() };
    let first = client.request(subject.clone(), "".into()).await.unwrap();
    let first = stats(&first.payload);
    let started = first["started"].as_str().unwrap().to_owned();
    assert_eq!(started, rfc3339_micros(service.started()));
    assert_eq!(
        first,
        json!({
            "type": "io.nats.micro.v1.stats_response",
            "name": "natsapi",
            "id": service.id(),
            "version": "1.2.3",
            "metadata": {"region": "eu"},
            "started": started,
            "endpoints": [{
                "name": "api",
                "subject": "resonate.server",
                "queue_group": "natsapi",
                "num_requests": 0,
                "num_errors": 0,
                "processing_time": 0,
                "average_processing_time": 0,
                "last_error": "",
                "data": null,
            }],
        })
    );

    let recorder = service.stats();
    recorder.record(Duration::from_micros(100), None);
    recorder.record(Duration::from_micros(300), Some("404:promise not found"));
    recorder.record(Duration::from_micros(200), None);
    let snapshot = recorder.snapshot();
    assert_eq!(snapshot.requests, 3);
    assert_eq!(snapshot.errors, 1);
    assert_eq!(snapshot.average_processing_time, Duration::from_micros(200));

    let reply = client.request(subject.clone(), "".into()).await.unwrap();
    let json = stats(&reply.payload);
    let endpoint = &json["endpoints"][0];
    assert_eq!(endpoint["num_requests"], 3);
    assert_eq!(endpoint["num_errors"], 1);
    assert_eq!(endpoint["processing_time"], 600_000);
    assert_eq!(endpoint["average_processing_time"], 200_000);
    assert_eq!(endpoint["last_error"], "404:promise not found");
    assert_eq!(json["started"], started.as_str());

    // async-nats's own client types read it, `started` and the error included.
    let parsed: async_nats::service::Stats = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(parsed.id, service.id());
    let endpoint = &parsed.endpoints[0];
    assert_eq!(endpoint.requests, 3);
    assert_eq!(endpoint.average_processing_time, Duration::from_micros(200));
    let error = endpoint.last_error.as_ref().expect("last error");
    assert_eq!((error.code, error.status.as_str()), (404, "promise not found"));

    // The bare subject answers with the same counters.
    let bare = collect(&client, "$SRV.STATS", 1).await;
    assert_eq!(bare.len(), 1);
    assert_eq!(bare[0]["endpoints"][0]["num_requests"], 3);
    service.stop().await;
}

/// The workspace's Python, when it has been set up.
/// The project's Python with nats-py installed (scripts/test installs it first). Missing, the
/// check is skipped with a note, except under CI, where it must run.
fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    let has_nats_py = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import nats.micro"])
            .output()
            .is_ok_and(|out| out.status.success());
    if !has_nats_py && std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("nats-py is not installed in .venv: run scripts/lib.sh ensure_python_test_deps");
    }
    has_nats_py.then_some(python)
}

const PY_CHECK: &str = r#"
import json, sys
from nats.micro.service import ServicePing, ServiceInfo, ServiceStats
ping = ServicePing.from_dict(json.loads(sys.argv[1]))
info = ServiceInfo.from_dict(json.loads(sys.argv[2]))
stats = ServiceStats.from_dict(json.loads(sys.argv[3]))
e = stats.endpoints[0]
print(json.dumps({
    "ping": [ping.name, ping.id, ping.version, ping.metadata],
    "info": [info.id, info.description, info.endpoints[0].subject, info.endpoints[0].queue_group],
    "stats": [stats.id, stats.started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), e.num_requests,
              e.num_errors, e.average_processing_time, e.last_error, e.data],
}))
"#;

#[tokio::test]
async fn replies_parse_with_nats_py_micro() {
    let Some(python) = python() else {
        eprintln!("skipped: nats-py is not installed in .venv");
        return;
    };
    let nats = NatsServer::start().unwrap();
    let service = start(&nats).await;
    service.stats().record(Duration::from_micros(5), Some("500:store unavailable"));
    let client = connect(&nats).await;
    let mut bodies = Vec::new();
    for verb in ["PING", "INFO", "STATS"] {
        let reply = client.request(format!("$SRV.{verb}.natsapi"), "".into()).await.unwrap();
        bodies.push(String::from_utf8(reply.payload.to_vec()).unwrap());
    }
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(PY_CHECK)
        .args(&bodies)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "nats-py rejects a reply: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = service.id();
    let started = rfc3339_micros(service.started());
    assert_eq!(
        parsed,
        json!({
            "ping": ["natsapi", id, "1.2.3", {"region": "eu"}],
            "info": [id, "Durable promises over NATS", "resonate.server", "natsapi"],
            "stats": [id, started, 1, 1, 5000, "500:store unavailable", null],
        })
    );
    service.stop().await;
}
