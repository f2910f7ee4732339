//! `natsapi serve --store postgres` with the ingest gateway and a worker, and no `--ingest-db`:
//! the ingest tables go to the store's PostgreSQL database (no SQLite file appears), a message
//! posted to the gateway is applied into the `messages` table and its mapped table there, and the
//! status endpoint reads it back. The API server and the ingest roles share one store.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use natsapi_testkit::{KillOnDrop, NatsServer, TestDatabase};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_natsapi");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The first column of the first row of `sql` in `database`, on a thread of its own (the
/// blocking client runs a runtime of its own).
fn query_one(database: &TestDatabase, sql: &str) -> i64 {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut client = postgres::Client::connect(database.url(), postgres::NoTls)
                    .expect("connect to the test database");
                client.query_one(sql, &[]).expect("query").get(0)
            })
            .join()
            .expect("the query thread")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_postgres_store_and_no_ingest_db_the_ingest_tables_are_in_the_stores_database() {
    let nats = NatsServer::builder().jetstream(true).start().unwrap();
    let database = TestDatabase::create().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("natsapi.yaml"),
        "ingest:\n  entities:\n    order:\n      table: orders\n      columns:\n        \
         - { name: order_id, pointer: /order_id, type: text, required: true }\n        \
         - { name: paid, pointer: /paid, type: boolean }\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--api-nats-addr", &nats.url(), "--config", "natsapi.yaml"])
        .args(["--store", "postgres", "--store-postgres-url", database.url()])
        .args(["--api-http-enable=false", "--poll-enable=false"])
        .args(["--ingest-enable", "--worker-enable", "--ingest-addr", &format!("127.0.0.1:{port}")])
        .env_remove("RUST_LOG")
        .env_remove("NATSAPI_INGEST_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("natsapi starts");
    let _child = KillOnDrop(child);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    common::gateway::wait_ready(&base).await;
    let response = http
        .post(format!("{base}/ingest/message"))
        .body(r#"{"entity_type":"order","order_id":"A1","paid":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let reply: Value = response.json().await.unwrap();
    let id = reply["message_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    common::gateway::wait_for_status(&base, &id, "processed", deadline).await;
    let processed =
        format!("SELECT COUNT(*) FROM messages WHERE message_id = '{id}' AND status = 'processed'");
    assert_eq!(query_one(&database, &processed), 1);
    assert_eq!(
        query_one(&database, "SELECT COUNT(*) FROM orders WHERE order_id = 'A1' AND paid"),
        1
    );
    // The API server and the ingest roles share one store: one pool of 8 connections (the
    // default), not a second one for the ingest tables.
    let ours = "SELECT COUNT(*) FROM pg_stat_activity \
                WHERE datname = current_database() AND application_name = 'natsapi'";
    assert_eq!(query_one(&database, ours), 8);
    // The promise tables are in the same database, and no SQLite file was made.
    assert_eq!(query_one(&database, "SELECT COUNT(*) FROM promises"), 0);
    let files: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(files, [std::ffi::OsString::from("natsapi.yaml")], "{files:?}");
}
