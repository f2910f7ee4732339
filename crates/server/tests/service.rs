//! Several instances on one subject: a queue group answers each request exactly once, and the
//! NATS micro-service protocol finds every instance.

mod common;

use std::time::Duration;

use common::nats_config;
use futures::StreamExt;
use natsapi_server::{RunningServer, ServerConfig, Time};
use natsapi_store::StoreConfig;
use natsapi_testkit::NatsServer;

async fn instance(url: &str) -> RunningServer {
    let config = ServerConfig {
        store: StoreConfig::memory(),
        nats: Some(nats_config(url, "shared.api")),
        http: None,
        poll: None,
        targets: Default::default(),
        http_auth: None,
    };
    RunningServer::start(config, Time::system()).await.unwrap()
}

#[tokio::test]
async fn each_request_is_answered_once_and_every_instance_is_discoverable() {
    let nats = NatsServer::start().unwrap();
    let a = instance(&nats.url()).await;
    let b = instance(&nats.url()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();

    // Publish with our own reply subject so that every reply, even a duplicate, is counted.
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(format!("{inbox}.*")).await.unwrap();
    let total = 200;
    for i in 0..total {
        let body = format!(r#"{{"operation":"promises.read","payload":{{"id":"p{i}"}}}}"#);
        client.publish_with_reply("shared.api", format!("{inbox}.{i}"), body.into()).await.unwrap();
    }
    let mut seen = vec![0u32; total];
    for _ in 0..total {
        let message = tokio::time::timeout(Duration::from_secs(5), replies.next())
            .await
            .expect("reply in time")
            .unwrap();
        let index: usize = message.subject.rsplit('.').next().unwrap().parse().unwrap();
        seen[index] += 1;
        assert!(message.payload.starts_with(b"{\"success\":false"), "404 expected");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), replies.next()).await.is_err(),
        "no duplicate replies"
    );
    assert!(seen.iter().all(|&n| n == 1));

    // $SRV.PING.natsapi reaches both instances.
    let ping_inbox = client.new_inbox();
    let mut pongs = client.subscribe(ping_inbox.clone()).await.unwrap();
    client.publish_with_reply("$SRV.PING.natsapi", ping_inbox, "".into()).await.unwrap();
    let mut ids = std::collections::HashSet::new();
    while ids.len() < 2 {
        let pong = tokio::time::timeout(Duration::from_secs(5), pongs.next())
            .await
            .expect("both instances answer PING")
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&pong.payload).unwrap();
        assert_eq!(json["name"], "natsapi");
        ids.insert(json["id"].as_str().unwrap().to_owned());
    }
    let info = client.request("$SRV.INFO.natsapi", "".into()).await.unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(info["endpoints"][0]["subject"], "shared.api");
    a.shutdown().await;
    b.shutdown().await;
}
