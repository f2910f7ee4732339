//! Acknowledged writes survive `kill -9` of `natsapi serve`, on SQLite and on PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{serve_postgres, serve_sqlite};
use natsapi_client::Client;
use natsapi_testkit::{KillOnDrop, TestDatabase};
use serde_json::json;

async fn wait_ready(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.call("promises.read", json!({"id":"probe"})).await.is_err() {
        assert!(Instant::now() < deadline, "natsapi serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn acknowledged_creates_survive_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("natsapi.db");
    let db = db.to_str().unwrap().to_owned();
    creates_survive_kill_9(|nats| serve_sqlite(nats, &db)).await;
}

#[tokio::test]
async fn acknowledged_creates_survive_kill_9_on_postgres() {
    let database = TestDatabase::create().unwrap();
    creates_survive_kill_9(|nats| serve_postgres(nats, database.url())).await;
}

/// Creates promises through `serve`'s server, kills it with SIGKILL, starts it again on the same
/// database and reads every acknowledged promise back.
async fn creates_survive_kill_9(serve: impl Fn(&str) -> KillOnDrop) {
    let nats = natsapi_testkit::NatsServer::start().unwrap();
    let client = Client::connect(&nats.url(), "resonate.server")
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(5));

    let mut server = serve(&nats.url());
    wait_ready(&client).await;
    let total = 500;
    let creates = (0..total).map(|i| {
        let client = client.clone();
        async move {
            let payload = json!({"id": format!("durable-{i}"), "timeout": 3_600_000,
                                 "param": {"data": "aGVsbG8="}});
            client.call("promises.create", payload).await
        }
    });
    let replies = futures::future::join_all(creates).await;
    for reply in &replies {
        assert_eq!(reply.as_ref().unwrap().status, Some(201));
    }
    server.0.kill().unwrap(); // SIGKILL: no graceful shutdown, no checkpoint
    server.0.wait().unwrap();

    let _restarted = serve(&nats.url());
    wait_ready(&client).await;
    for i in 0..total {
        let reply = client.call("promises.read", json!({"id": format!("durable-{i}")})).await;
        let reply = reply.unwrap();
        assert_eq!(reply.status, Some(200), "durable-{i} lost: {reply:?}");
        assert_eq!(reply.response.unwrap()["param"]["data"], "aGVsbG8=");
    }
}
