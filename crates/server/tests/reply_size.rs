//! Replies always fit in one NATS message: writes that could build a promise too large to return
//! are refused before anything is stored, and search pages end early to fit.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{T0, assert_error, nats_config};
use natsapi_client::Client;
use natsapi_server::{RunningServer, ServerConfig, Time};
use natsapi_store::StoreConfig;
use natsapi_testkit::NatsServer;
use serde_json::json;

const NATS_MAX_PAYLOAD: usize = 16 * 1024;

#[tokio::test]
async fn writes_and_pages_stay_within_the_nats_max_payload() {
    let nats = NatsServer::builder().max_payload(NATS_MAX_PAYLOAD).start().unwrap();
    let config = ServerConfig {
        store: StoreConfig::memory(),
        nats: Some(nats_config(&nats.url(), "resonate.server")),
        http: None,
        poll: None,
        targets: Default::default(),
        http_auth: None,
    };
    let server = RunningServer::start(config, Time::manual(T0)).await.unwrap();
    let client = Client::connect(&nats.url(), "resonate.server")
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let data = |bytes: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; bytes]);

    // Half the reply budget is the most one write may carry.
    let too_big = json!({"id": "big", "timeout": 60_000, "param": {"data": data(7_000)}});
    assert_error(&client.call("promises.create", too_big).await.unwrap(), 400, "at most");
    assert_error(&client.call("promises.read", json!({"id":"big"})).await.unwrap(), 404, "");

    // Promises of about 4 KiB: a page of 100 would not fit, so pages end early.
    for i in 0..12 {
        let create = json!({"id": format!("p{i:02}"), "timeout": 60_000,
                            "param": {"data": data(3_000)}});
        assert_eq!(client.call("promises.create", create).await.unwrap().status, Some(201));
        let complete = json!({"id": format!("p{i:02}"), "state": "RESOLVED",
                              "value": {"data": data(3_000)}});
        let done = client.call("promises.complete", complete).await.unwrap();
        assert_eq!(done.status, Some(201), "{done:?}");
    }
    let mut query = json!({"id": "p*"});
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = client.call("promises.search", query).await.unwrap();
        let page = page.response.expect("a page");
        pages += 1;
        for promise in page["promises"].as_array().unwrap() {
            seen.push(promise["id"].as_str().unwrap().to_owned());
        }
        match page["cursor"].as_str() {
            Some(cursor) => query = json!({"cursor": cursor}),
            None => break,
        }
    }
    assert!(pages > 3, "{pages} pages");
    let expected: Vec<String> = (0..12).rev().map(|i| format!("p{i:02}")).collect();
    assert_eq!(seen, expected);

    // A long pattern makes a long cursor: pages leave room for it.
    let pattern = format!("p{}", "*".repeat(3_000));
    let mut query = json!({"id": pattern});
    let mut found = 0;
    loop {
        let page = client.call("promises.search", query).await.unwrap();
        let page = page.response.unwrap_or_else(|| panic!("a page, not {:?}", page.error));
        found += page["promises"].as_array().unwrap().len();
        match page["cursor"].as_str() {
            Some(cursor) => query = json!({"cursor": cursor}),
            None => break,
        }
    }
    assert_eq!(found, 12);

    // Trace headers count against the limit too: the largest write still gets its reply.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    headers.insert("tracestate", format!("a={}", "b".repeat(500)).as_str());
    let create = json!({"id": "traced", "timeout": 60_000, "param": {"data": data(5_000)}});
    let (reply, _) =
        client.call_with("promises.create", Some(&"r".repeat(256)), create, headers).await.unwrap();
    assert_eq!(reply.status, Some(201), "{:?}", reply.error);
    server.shutdown().await;
}
