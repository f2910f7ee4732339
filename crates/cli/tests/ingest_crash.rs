//! `natsapi ingest` and `natsapi worker` as separate processes on one nats-server and one
//! database (a SQLite file, or a PostgreSQL database given to `--ingest-db` as a URL): the worker
//! is SIGKILLed while it applies batches and started again, and every message is applied exactly
//! once, to the messages table and to its mapped entity table; and so is every signed call, to
//! `rpclog` and to its method's table.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use natsapi_client::rpc::{Call, Format, SecretKey, sign_call};
use natsapi_testkit::{KillOnDrop, NatsServer, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_natsapi");
/// Messages of a run with [`Load::Messages`]; a run of signed calls sends a quarter as many
/// (each is a request of its own).
const MESSAGES: usize = 6000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The ingest database of a run.
enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(Box<TestDatabase>),
}

impl Db {
    /// What `--ingest-db` says.
    fn arg(&self) -> std::ffi::OsString {
        match self {
            Db::Sqlite(path) => path.into(),
            Db::Postgres(database) => database.url().into(),
        }
    }

    /// A count, or 0 while the database or its tables do not exist yet.
    fn count(&self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(path) => count(path, sql),
            // The blocking client runs a runtime of its own: not on the test's runtime thread.
            Db::Postgres(database) => std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let url = database.url();
                        let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) else {
                            return 0;
                        };
                        client.query_one(sql, &[]).map_or(0, |row| row.get(0))
                    })
                    .join()
                    .unwrap_or(0)
            }),
        }
    }
}

fn spawn(role: &str, nats: &str, dir: &Path, db: &Db, extra: &[&str]) -> KillOnDrop {
    let child = Command::new(BIN)
        .arg(role)
        .args(["--api-nats-addr", nats, "--config"])
        .arg(dir.join("natsapi.yaml"))
        .arg("--ingest-db")
        .arg(db.arg())
        .args(extra)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("natsapi starts");
    KillOnDrop(child)
}

fn count(db: &Path, sql: &str) -> i64 {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    match rusqlite::Connection::open_with_flags(db, flags) {
        Ok(conn) => {
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
        }
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_and_restarted_applies_every_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(dir.path().join("ingest.db"));
    killed_mid_batch(&dir, &db, Load::Messages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_worker_killed_mid_batch_and_restarted_applies_every_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Postgres(Box::new(TestDatabase::create().unwrap_or_else(|e| panic!("{e}"))));
    killed_mid_batch(&dir, &db, Load::Messages).await;
    assert!(!dir.path().join("ingest.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_and_restarted_applies_every_signed_call_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(dir.path().join("ingest.db"));
    killed_mid_batch(&dir, &db, Load::Calls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_worker_killed_mid_batch_applies_every_signed_call_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Postgres(Box::new(TestDatabase::create().unwrap_or_else(|e| panic!("{e}"))));
    killed_mid_batch(&dir, &db, Load::Calls).await;
}

/// What the gateway is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    /// Batches of JSON messages of entity type `order` (mapped to the table `orders`).
    Messages,
    /// Signed `track_comment.add` calls, 32 requests in flight.
    Calls,
}

impl Load {
    /// How many messages a run sends.
    fn total(self) -> usize {
        match self {
            Load::Messages => MESSAGES,
            Load::Calls => MESSAGES / 4,
        }
    }

    /// The table the worker fills, a row per message.
    fn table(self) -> &'static str {
        match self {
            Load::Messages => "orders",
            Load::Calls => "track_comments",
        }
    }

    /// Sends messages `from..to`.
    async fn send(
        self,
        http: &reqwest::Client,
        base: &str,
        key: &SecretKey,
        from: usize,
        to: usize,
    ) {
        match self {
            Load::Messages => {
                let body: String = (from..to)
                    .map(|i| format!("{{\"entity_type\":\"order\",\"order_id\":\"o{i}\"}}\n"))
                    .collect();
                let response =
                    http.post(format!("{base}/ingest/batch")).body(body).send().await.unwrap();
                assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
            }
            Load::Calls => {
                let requests = (from..to).map(|i| {
                    let params = serde_json::json!({"comment_id": format!("c{i}"),
                        "track_id": 1, "position_ms": i, "comment": "hi"});
                    let call = Call::new(format!("add-{i}"), "track_comment.add", params);
                    let signed = sign_call(key, &call, Format::MsgPack, false);
                    http.post(format!("{base}/op"))
                        .header("content-type", signed.content_type)
                        .body(signed.body)
                        .send()
                });
                let mut answers = futures::stream::iter(requests).buffer_unordered(32);
                while let Some(answer) = answers.next().await {
                    let answer = answer.unwrap();
                    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());
                }
            }
        }
    }
}

async fn killed_mid_batch(dir: &tempfile::TempDir, db: &Db, load: Load) {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    std::fs::write(
        dir.path().join("natsapi.yaml"),
        "ingest:\n  worker:\n    batchSize: 64\n    ackWait: 2s\n  entities:\n    order:\n      table: orders\n      \
         columns:\n        - { name: order_id, pointer: /order_id, type: text, required: true }\n",
    )
    .unwrap();
    let port = free_port();
    let _gateway = spawn(
        "ingest",
        &nats.url(),
        dir.path(),
        db,
        &["--ingest-addr", &format!("127.0.0.1:{port}")],
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    common::gateway::wait_ready(&base).await;
    let key = SecretKey::generate();
    let total = load.total();
    load.send(&http, &base, &key, 0, total / 2).await;
    let rows = format!("SELECT COUNT(*) FROM {}", load.table());

    // Kill the worker while it is busy, three times, posting more in between.
    for round in 0..3 {
        let mut worker = spawn("worker", &nats.url(), dir.path(), db, &[]);
        let before = db.count(&rows);
        let deadline = Instant::now() + Duration::from_secs(30);
        while db.count(&rows) < before + 200 {
            assert!(Instant::now() < deadline, "round {round}: the worker made no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        worker.0.kill().unwrap();
        worker.0.wait().unwrap();
        if round == 0 {
            load.send(&http, &base, &key, total / 2, total).await;
        }
    }
    let processed = db.count("SELECT COUNT(*) FROM messages WHERE status = 'processed'");
    assert!(processed < total as i64, "the kills came too late to test anything");

    let _worker = spawn("worker", &nats.url(), dir.path(), db, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.count("SELECT COUNT(*) FROM messages WHERE status = 'processed'") < total as i64 {
        assert!(Instant::now() < deadline, "not every message was processed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM messages"), total as i64);
    assert_eq!(db.count(&rows), total as i64);
    assert_eq!(db.count("SELECT COUNT(*) FROM messages WHERE status <> 'processed'"), 0);
    match load {
        Load::Messages => {
            let distinct = "SELECT COUNT(DISTINCT order_id) FROM orders";
            assert_eq!(db.count(distinct), total as i64);
        }
        Load::Calls => {
            assert_eq!(db.count("SELECT COUNT(*) FROM rpclog"), total as i64);
            let distinct = "SELECT COUNT(DISTINCT position_ms) FROM track_comments";
            assert_eq!(db.count(distinct), total as i64);
        }
    }
}
