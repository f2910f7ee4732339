//! Two `natsapi serve` processes on one SQLite file and one subject: NATS spreads the requests,
//! both see every promise, and either one alone keeps serving them.

mod common;

use std::time::{Duration, Instant};

use common::serve_sqlite;
use natsapi_client::Client;
use serde_json::json;

/// Waits until exactly `instances` natsapi instances answer `$SRV.PING.natsapi`.
async fn wait_for_instances(client: &Client, instances: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nats = client.nats();
        let inbox = nats.new_inbox();
        let mut pongs = nats.subscribe(inbox.clone()).await.unwrap();
        nats.publish_with_reply("$SRV.PING.natsapi", inbox, "".into()).await.unwrap();
        let mut seen = 0;
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(200), futures::StreamExt::next(&mut pongs))
                .await
        {
            seen += 1;
        }
        if seen == instances {
            return;
        }
        assert!(Instant::now() < deadline, "{seen} instances answer, expected {instances}");
    }
}

#[tokio::test]
async fn two_processes_share_one_sqlite_file() {
    let nats = natsapi_testkit::NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let db = db.to_str().unwrap();
    let client = Client::connect(&nats.url(), "resonate.server")
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(5));

    let first = serve_sqlite(&nats.url(), db);
    wait_for_instances(&client, 1).await;
    let second = serve_sqlite(&nats.url(), db);
    wait_for_instances(&client, 2).await;

    let total = 300;
    let creates = (0..total).map(|i| {
        let client = client.clone();
        async move {
            let payload = json!({"id": format!("shared-{i}"), "timeout": 3_600_000});
            client.call("promises.create", payload).await
        }
    });
    for reply in futures::future::join_all(creates).await {
        assert_eq!(reply.unwrap().status, Some(201));
    }
    // A replay reaches whichever instance NATS picks; the other's write is visible to it.
    for i in 0..20 {
        let payload = json!({"id": format!("shared-{i}"), "timeout": 3_600_000});
        let reply = client.call("promises.create", payload).await;
        assert_eq!(reply.unwrap().error.map(|e| e.code), Some(409));
    }

    drop(first);
    wait_for_instances(&client, 1).await;
    let search = client.call("promises.search", json!({"id": "shared-*", "limit": 100})).await;
    let search = search.unwrap();
    assert_eq!(search.response.as_ref().unwrap()["promises"].as_array().unwrap().len(), 100);
    for i in 0..total {
        let reply = client.call("promises.read", json!({"id": format!("shared-{i}")})).await;
        assert_eq!(reply.unwrap().status, Some(200), "shared-{i} visible to the survivor");
    }
    drop(second);
}
