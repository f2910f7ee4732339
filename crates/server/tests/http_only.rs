//! A server without NATS: the HTTP API and the SSE poller still deliver tasks.

use std::time::Duration;

use natsapi_server::{RunningServer, ServerConfig, Time};
use natsapi_store::StoreConfig;

#[tokio::test]
async fn without_nats_tasks_still_reach_poll_receivers() {
    let config = ServerConfig {
        store: StoreConfig::memory(),
        nats: None,
        http: Some("127.0.0.1:0".into()),
        poll: None,
        targets: Default::default(),
        http_auth: None,
    };
    let server = RunningServer::start(config, Time::system()).await.unwrap();
    let base = format!("http://{}", server.http_addr().unwrap());
    let client = reqwest::Client::new();
    let mut stream = client.get(format!("{base}/poll/g/w1")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let created = client
        .post(format!("{base}/promises"))
        .header("content-type", "application/json")
        .body(r#"{"id":"job","timeout":60000,"tags":{"resonate:invoke":"poll://any@g/w1"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut received = String::new();
    while !received.contains("\n\n") || !received.contains("data:") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("a task message within 5 s")
            .unwrap()
            .expect("the stream stays open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let line = received.lines().find(|l| l.starts_with("data:")).unwrap();
    let message: serde_json::Value = serde_json::from_str(line["data:".len()..].trim()).unwrap();
    assert_eq!(
        (message["type"].as_str(), message["task"]["id"].as_str()),
        (Some("invoke"), Some("__invoke:job"))
    );
    drop(stream);
    server.shutdown().await;
}
