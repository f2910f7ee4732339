//! No write without its answer: replies always fit in one NATS message. A write whose answer would
//! not fit is refused and leaves nothing behind, promises stay small enough that a task claim can
//! carry two of them, and search pages end early to fit.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{T0, assert_error, nats_config};
use natsapi_client::{Client, Reply};
use natsapi_server::{RunningServer, ServerConfig, Time};
use natsapi_store::StoreConfig;
use natsapi_testkit::NatsServer;
use serde_json::{Value, json};

const NATS_MAX_PAYLOAD: usize = 16 * 1024;

/// What a nats-server allows by default (`max_payload`).
const NATS_DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// Base64 text of `bytes` bytes.
fn data(bytes: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![7u8; bytes])
}

/// Base64 text about `len` characters long: what "a param of `len` bytes" is in the JSON.
fn data_text(len: usize) -> String {
    data(len / 4 * 3)
}

/// A natsapi server on `nats` (requests up to its max payload) with `store` and HTTP, and a
/// client of it.
async fn serve(nats: &NatsServer, store: StoreConfig) -> (RunningServer, Client) {
    let mut nats_settings = nats_config(&nats.url(), "resonate.server");
    nats_settings.max_payload = 64 * 1024 * 1024;
    let config = ServerConfig {
        store,
        nats: Some(nats_settings),
        http: Some("127.0.0.1:0".into()),
        poll: None,
        targets: Default::default(),
        http_auth: None,
    };
    let server = RunningServer::start(config, Time::manual(T0)).await.unwrap();
    let client = Client::connect(&nats.url(), "resonate.server")
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(10));
    (server, client)
}

/// The reply to `operation`, which must have answered `status`.
#[track_caller]
fn answered(reply: Reply, status: u16) -> Value {
    assert_eq!(reply.status, Some(status), "{:?}", reply.error);
    reply.response.expect("a resource")
}

/// The stores the tests run on: memory, and SQLite in `dir`.
fn stores(dir: &tempfile::TempDir) -> [(&'static str, StoreConfig); 2] {
    [("memory", StoreConfig::memory()), ("sqlite", StoreConfig::sqlite(dir.path().join("r.db")))]
}

/// Creates `root` with a param of `root_param` bytes, and `leaf` with a param of `leaf_param`
/// bytes and a callback that resumes `root` when `leaf` completes.
async fn root_and_leaf(client: &Client, root_param: usize, leaf_param: usize) {
    let root =
        json!({"id": "root", "timeout": 3_600_000, "param": {"data": data_text(root_param)}});
    answered(client.call("promises.create", root).await.unwrap(), 201);
    let leaf =
        json!({"id": "leaf", "timeout": 3_600_000, "param": {"data": data_text(leaf_param)}});
    answered(client.call("promises.create", leaf).await.unwrap(), 201);
    let callback = json!({"promiseId": "leaf", "rootPromiseId": "root", "recv": "nats://w.resume"});
    answered(client.call("promises.callback", callback).await.unwrap(), 201);
}

fn resolve_leaf(value: usize) -> Value {
    json!({"id": "leaf", "state": "RESOLVED", "value": {"data": data_text(value)}})
}

fn claim() -> Value {
    json!({"id": "__resume:root:leaf", "counter": 1, "processId": "w1", "ttl": 60_000})
}

/// The reproduction of the report: over NATS with its default max payload, a resume task whose
/// root param and leaf value are about 490 KB each. Its claim carries both, and answers.
#[tokio::test]
async fn a_claim_carrying_a_490_kb_root_and_leaf_is_answered_over_nats() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in stores(&dir) {
        let nats = NatsServer::start().unwrap();
        let (server, client) = serve(&nats, store).await;
        root_and_leaf(&client, 490_000, 0).await;
        answered(client.call("promises.complete", resolve_leaf(490_000)).await.unwrap(), 201);

        let claimed = answered(client.call("tasks.claim", claim()).await.unwrap(), 201);
        assert_eq!(claimed["type"], "resume", "{backend}");
        assert_eq!(claimed["promises"]["root"]["data"]["param"]["data"], data_text(490_000));
        assert_eq!(claimed["promises"]["leaf"]["data"]["value"]["data"], data_text(490_000));
        // Claimed once: a second claim is refused, and the worker completes its task.
        assert_error(&client.call("tasks.claim", claim()).await.unwrap(), 403, "already claimed");
        let done = json!({"id": "__resume:root:leaf", "counter": 1});
        answered(client.call("tasks.complete", done).await.unwrap(), 201);
        server.shutdown().await;
    }
}

/// The case of the report whose claim did not fit (1,480,525 bytes): the leaf also has a 490 KB
/// param. Completing it with a 490 KB value is refused before anything is stored, so no task
/// exists that could never be claimed; completed with less, its task is claimed.
#[tokio::test]
async fn a_leaf_too_large_to_claim_beside_its_root_cannot_be_completed() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in stores(&dir) {
        let nats = NatsServer::start().unwrap();
        let (server, client) = serve(&nats, store).await;
        root_and_leaf(&client, 490_000, 490_000).await;

        let refused = client.call("promises.complete", resolve_leaf(490_000)).await.unwrap();
        let limit = (NATS_DEFAULT_MAX_PAYLOAD
            - natsapi_server::api::REPLY_OVERHEAD
            - natsapi_core::tasks::CLAIM_FRAME_LEN)
            / 2;
        assert_error(&refused, 400, &format!("at most {limit}"));
        assert_error(&refused, 400, "promise \"leaf\" would take 98");
        let leaf =
            answered(client.call("promises.read", json!({"id": "leaf"})).await.unwrap(), 200);
        assert_eq!(leaf["state"], "PENDING", "{backend}: nothing was stored");
        assert_error(&client.call("tasks.claim", claim()).await.unwrap(), 404, "not found");

        answered(client.call("promises.complete", resolve_leaf(30_000)).await.unwrap(), 201);
        let claimed = answered(client.call("tasks.claim", claim()).await.unwrap(), 201);
        assert_eq!(claimed["promises"]["leaf"]["data"]["state"], "RESOLVED");
        server.shutdown().await;
    }
}

/// Promises stored while NATS allowed larger messages: the claim that no longer fits is
/// refused and claims nothing (a retry gets the same answer, not "already claimed"), over NATS
/// and HTTP alike; once the max payload is raised again, the same claim goes through.
#[tokio::test]
async fn a_claim_that_does_not_fit_claims_nothing_until_it_fits() {
    let dir = tempfile::tempdir().unwrap();
    let store = || StoreConfig::sqlite(dir.path().join("legacy.db"));
    let large = NatsServer::builder().max_payload(4 * NATS_DEFAULT_MAX_PAYLOAD).start().unwrap();
    let (server, client) = serve(&large, store()).await;
    root_and_leaf(&client, 490_000, 490_000).await;
    answered(client.call("promises.complete", resolve_leaf(490_000)).await.unwrap(), 201);
    server.shutdown().await;

    let small = NatsServer::start().unwrap();
    let (server, client) = serve(&small, store()).await;
    let refused = client.call("tasks.claim", claim()).await.unwrap();
    assert_error(&refused, 400, "the reply would be 14");
    assert_error(&refused, 400, "nothing was changed");
    let again = client.call("tasks.claim", claim()).await.unwrap();
    assert_eq!(again.error, refused.error, "the first claim changed nothing");
    let http = format!("http://{}/tasks/claim", server.http_addr().unwrap());
    let over_http = reqwest::Client::new()
        .post(http)
        .header("content-type", "application/json")
        .body(claim().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 400);
    let body: Value = serde_json::from_str(&over_http.text().await.unwrap()).unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("the reply would be"), "{body}");
    server.shutdown().await;

    let (server, client) = serve(&large, store()).await;
    let claimed = answered(client.call("tasks.claim", claim()).await.unwrap(), 201);
    assert_eq!(claimed["promises"]["root"]["id"], "root");
    server.shutdown().await;
}

#[tokio::test]
async fn writes_and_pages_stay_within_the_nats_max_payload() {
    let nats = NatsServer::builder().max_payload(NATS_MAX_PAYLOAD).start().unwrap();
    let (server, client) = serve(&nats, StoreConfig::memory()).await;

    // Half the reply budget is the most one promise may take.
    let too_big = json!({"id": "big", "timeout": 60_000, "param": {"data": data(7_000)}});
    assert_error(&client.call("promises.create", too_big).await.unwrap(), 400, "at most");
    assert_error(&client.call("promises.read", json!({"id":"big"})).await.unwrap(), 404, "");

    // Promises of about 5 KiB: a page of 100 would not fit, so pages end early.
    for i in 0..12 {
        let create = json!({"id": format!("p{i:02}"), "timeout": 60_000,
                            "param": {"data": data(2_000)}});
        assert_eq!(client.call("promises.create", create).await.unwrap().status, Some(201));
        let complete = json!({"id": format!("p{i:02}"), "state": "RESOLVED",
                              "value": {"data": data(2_000)}});
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

/// A callback's answer carries the promise it waits on and the registration, whose ids the
/// request chose. With ids of at most 1 KiB (`MAX_ID_BYTES`) the two always fit in a reply of
/// this size (the reply budget of a callback is checked in the store's conformance suite); an id
/// longer than that is refused on its own, and nothing is registered.
#[tokio::test]
async fn a_callback_whose_ids_are_too_long_registers_nothing() {
    let nats = NatsServer::builder().max_payload(NATS_MAX_PAYLOAD).start().unwrap();
    let (server, client) = serve(&nats, StoreConfig::memory()).await;
    let leaf = json!({"id": "leaf", "timeout": 60_000, "param": {"data": data(4_500)}});
    answered(client.call("promises.create", leaf).await.unwrap(), 201);
    let root = "r".repeat(5_000);
    let callback = json!({"promiseId": "leaf", "rootPromiseId": root, "recv": "nats://w"});
    let refused = client.call("promises.callback", callback).await.unwrap();
    assert_error(&refused, 400, "at most 1024");

    answered(client.call("promises.complete", resolve_leaf(0)).await.unwrap(), 201);
    let task = json!({"id": format!("__resume:{root}:leaf"), "counter": 1});
    assert_error(&client.call("tasks.claim", task).await.unwrap(), 400, "at most 1024");
    server.shutdown().await;
}
