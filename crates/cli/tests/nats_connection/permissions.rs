//! The README's deployment configuration (`deploy/nats-accounts.conf`, shown in the README as it
//! is): natsapi serves the API, ingests and delivers tasks with exactly the permissions it grants,
//! and a client cannot subscribe to the API subject or join natsapi's queue group, so it cannot
//! answer requests in natsapi's place. Without permissions, such a rogue member of the queue group
//! answers a share of the requests with forged replies.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use natsapi_testkit::{KillOnDrop, NatsServer};

use super::{assert_answers, natsapi, serve};

const REQUESTS: usize = 40;
const FORGED: &[u8] = br#"{"success":true,"status":201,"response":{"forged":true}}"#;

fn repository_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn accounts_file() -> PathBuf {
    repository_file("deploy/nats-accounts.conf")
}

/// A nats-server with the deployment's accounts and permissions and the two users' passwords.
fn nats_with_permissions() -> NatsServer {
    NatsServer::builder()
        .jetstream(true)
        .config_line("NATSAPI_PASSWORD: \"natsapi-pw\"\nCLIENT_PASSWORD: \"client-pw\"")
        .config_file(accounts_file())
        .start()
        .expect("nats-server with the README's accounts")
}

fn user_url(nats: &NatsServer, user: &str) -> String {
    format!("nats://{user}:{user}-pw@127.0.0.1:{}", nats.port())
}

/// Options that send the user and password of `url` (async-nats alone does not).
fn options(url: &str) -> async_nats::ConnectOptions {
    natsapi_client::ConnectionSettings::default().connect_options(url).expect("options")
}

async fn connect(url: &str) -> async_nats::Client {
    options(url).connect(url).await.expect("connects")
}

#[test]
fn the_readme_shows_the_deployment_configuration_as_it_is() {
    let readme = std::fs::read_to_string(repository_file("README.md")).unwrap();
    let conf = std::fs::read_to_string(accounts_file()).unwrap();
    assert!(
        readme.contains(&format!("```text\n{conf}```\n")),
        "README.md must show deploy/nats-accounts.conf exactly, in a ```text block"
    );
}

/// A client that joins the API subject's queue group and answers every request with a forged
/// reply; it records the server's errors and how many requests it got.
struct Rogue {
    errors: Arc<Mutex<Vec<String>>>,
    answered: Arc<Mutex<usize>>,
}

impl Rogue {
    async fn start(url: &str) -> Rogue {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen = errors.clone();
        let client = options(url)
            .event_callback(move |event| {
                let seen = seen.clone();
                async move {
                    if let async_nats::Event::ServerError(error) = event {
                        seen.lock().unwrap().push(error.to_string());
                    }
                }
            })
            .connect(url)
            .await
            .expect("the rogue connects");
        let answered = Arc::new(Mutex::new(0));
        let plain = client.subscribe("resonate.server").await.unwrap();
        let queued = client.queue_subscribe("resonate.server", "natsapi".into()).await.unwrap();
        client.flush().await.unwrap();
        let mut requests = futures::stream::select(plain, queued);
        let count = answered.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                *count.lock().unwrap() += 1;
                if let Some(reply) = request.reply {
                    let _ = client.publish(reply, Bytes::from_static(FORGED)).await;
                }
            }
        });
        Rogue { errors, answered }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// Sends the requests at once and counts the replies that came from natsapi (they echo the
/// request id; the forged ones do not).
async fn genuine_replies(url: &str) -> usize {
    let client = connect(url).await;
    let requests = (0..REQUESTS).map(|i| {
        let client = client.clone();
        async move {
            let body = natsapi_client::envelope(
                "promises.read",
                Some(&format!("r{i}")),
                &serde_json::json!({"id": "missing"}),
            );
            let reply = client.request("resonate.server", body.into()).await.expect("a reply");
            let reply: natsapi_client::Reply = serde_json::from_slice(&reply.payload).unwrap();
            reply.request_id == Some(format!("r{i}")) && reply.error.is_some_and(|e| e.code == 404)
        }
    });
    futures::future::join_all(requests).await.into_iter().filter(|genuine| *genuine).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_natsapi_may_answer_the_api_subject() {
    let nats = nats_with_permissions();
    let (natsapi_url, client_url) = (user_url(&nats, "natsapi"), user_url(&nats, "client"));
    let _server = serve(&natsapi_url, &[]);
    assert_answers(&client_url, &[]);

    let rogue = Rogue::start(&client_url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rogue.errors().len() < 2 {
        assert!(Instant::now() < deadline, "the server did not refuse: {:?}", rogue.errors());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let errors = rogue.errors().join("\n");
    assert!(
        errors.contains(r#"Permissions Violation for Subscription to "resonate.server""#),
        "{errors}"
    );
    assert!(errors.contains(r#"using queue "natsapi""#), "{errors}");

    assert_eq!(genuine_replies(&client_url).await, REQUESTS, "every reply comes from natsapi");
    assert_eq!(*rogue.answered.lock().unwrap(), 0, "the rogue received no request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permissions_a_rogue_member_of_the_queue_group_answers() {
    let nats = NatsServer::builder().jetstream(false).start().expect("nats-server");
    let _server = serve(&nats.url(), &[]);
    assert_answers(&nats.url(), &[]);
    let rogue = Rogue::start(&nats.url()).await;

    let genuine = genuine_replies(&nats.url()).await;
    assert!(genuine < REQUESTS, "the rogue answered none of {REQUESTS}");
    assert!(*rogue.answered.lock().unwrap() > 0);
    assert!(rogue.errors().is_empty(), "{:?}", rogue.errors());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natsapi_ingests_and_delivers_tasks_within_its_permissions() {
    let nats = nats_with_permissions();
    let (natsapi_url, client_url) = (user_url(&nats, "natsapi"), user_url(&nats, "client"));
    let dir = tempfile::tempdir().unwrap();
    let config = super::write(
        &dir,
        "natsapi.yaml",
        "ingest:\n  entities:\n    order:\n      table: orders\n      columns:\n        \
         - { name: order_id, pointer: /order_id, type: text, required: true }\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = KillOnDrop(
        natsapi()
            .args(["serve", "--api-nats-addr", &natsapi_url, "--store", "memory"])
            .args(["--api-http-enable=false", "--poll-enable=false", "--config", &config])
            .args(["--ingest-enable", "--worker-enable", "--ingest-addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--ingest-db")
            .arg(dir.path().join("ingest.db"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("natsapi serve starts"),
    );
    assert_answers(&client_url, &[]);

    // A task for a nats:// receiver reaches a worker subscribed as a client.
    let worker = connect(&client_url).await;
    let mut tasks = worker.subscribe("workers.demo").await.unwrap();
    worker.flush().await.unwrap();
    let create = natsapi_client::envelope(
        "promises.create",
        None,
        &serde_json::json!({"id": "order-1", "timeout": 3_600_000,
            "tags": {"resonate:invoke": "nats://workers.demo"}}),
    );
    worker.request("resonate.server", create.into()).await.unwrap();
    let task = tokio::time::timeout(Duration::from_secs(10), tasks.next()).await;
    let task = task.expect("a task within 10 s").unwrap();
    assert!(String::from_utf8_lossy(&task.payload).contains("__invoke:order-1"));

    // A message is applied, another dead-lettered (a required column is missing).
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ids = Vec::new();
    for body in [r#"{"entity_type":"order","order_id":"1"}"#, r#"{"entity_type":"order"}"#] {
        let accepted = loop {
            let sent = http.post(format!("{base}/ingest/message")).body(body).send().await;
            match sent {
                Ok(response) if response.status() == 202 => break response,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("the gateway did not accept {body}: {other:?}"),
            }
        };
        let accepted: serde_json::Value = accepted.json().await.unwrap();
        ids.push(accepted["message_id"].as_str().unwrap().to_owned());
    }
    for (id, expected) in ids.iter().zip(["processed", "dead_lettered"]) {
        crate::common::gateway::wait_for_status(&base, id, expected, deadline).await;
    }

    // A signed call is applied; the same comment added again is dead-lettered.
    use natsapi_client::rpc::{Call, Format, SecretKey, sign_call};
    let alice = SecretKey::generate();
    let add = Call::new(
        "add-1",
        "track_comment.add",
        serde_json::json!({"comment_id": "c1", "track_id": 1, "position_ms": 0, "comment": "hi"}),
    );
    let again = Call { id: "add-2".into(), ..add.clone() };
    for (key, call, expected) in [(&alice, add, "applied"), (&alice, again, "dead_lettered")] {
        let signed = sign_call(key, &call, Format::MsgPack, false);
        let sent = http
            .post(format!("{base}/op"))
            .header("content-type", signed.content_type)
            .body(signed.body)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 202, "{}", sent.text().await.unwrap());
        let status = format!("{base}/op/status/{}/{}", key.wallet(), call.id);
        loop {
            let body: serde_json::Value =
                http.get(&status).send().await.unwrap().json().await.unwrap();
            if body["status"] == expected {
                break;
            }
            assert!(Instant::now() < deadline, "{} never became {expected}: {body}", call.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let log = std::fs::read_to_string(nats.log_path()).unwrap();
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("Violation")).collect();
    assert!(refused.is_empty(), "natsapi needed more permissions: {refused:#?}");
}
