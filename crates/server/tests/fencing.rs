//! Fencing (spec §9.6) over HTTP and NATS: a write that names a task and counter runs only while
//! that task is claimed at that counter; otherwise 412 (41200) and nothing is written.

mod common;

use serde_json::{Value, json};

use common::Harness;

async fn http(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    let url = format!("http://{}{path}", h.server().http_addr().expect("HTTP enabled"));
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("HTTP answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn writes_fenced_by_a_task_run_only_while_it_is_claimed_at_that_counter() {
    let h = Harness::start().await;
    h.call(
        "promises.create",
        json!({"id": "root", "timeout": 3_600_000, "tags": {"resonate:invoke": "nats://nobody"}}),
    )
    .await;
    let claimed =
        h.call("tasks.claim", json!({"id": "__invoke:root", "counter": 1, "processId": "w"})).await;
    assert_eq!(claimed.status, Some(201), "{claimed:?}");
    let fence = [("Task-Id", "__invoke:root"), ("Task-Counter", "1")];
    let stale = [("Task-Id", "__invoke:root"), ("Task-Counter", "2")];

    let child = json!({"id": "root.1", "timeout": 3_600_000});
    let (status, body) = http(&h, reqwest::Method::POST, "/promises", &stale, child.clone()).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (412, Some(41200)), "{body}");
    let (status, _) = http(&h, reqwest::Method::GET, "/promises/root.1", &[], Value::Null).await;
    assert_eq!(status, 404, "a refused fenced write stores nothing");
    let (status, _) = http(&h, reqwest::Method::POST, "/promises", &fence, child).await;
    assert_eq!(status, 201);

    let callback = json!({"rootPromiseId": "root", "recv": "nats://nobody"});
    let (status, _) =
        http(&h, reqwest::Method::POST, "/promises/callback/root.1", &stale, callback.clone())
            .await;
    assert_eq!(status, 412);
    let (status, _) =
        http(&h, reqwest::Method::POST, "/promises/callback/root.1", &fence, callback).await;
    assert_eq!(status, 201);

    // The worker loses its claim: its counter no longer fences anything.
    let dropped = h.call("tasks.drop", json!({"id": "__invoke:root", "counter": 1})).await;
    assert_eq!(dropped.status, Some(201));
    let resolve = json!({"state": "RESOLVED"});
    let (status, _) =
        http(&h, reqwest::Method::PATCH, "/promises/root.1", &fence, resolve.clone()).await;
    assert_eq!(status, 412, "a zombie worker cannot complete");
    let over_nats = h
        .call(
            "promises.complete",
            json!({"id": "root.1", "state": "RESOLVED", "fence": {"taskId": "__invoke:root", "counter": 1}}),
        )
        .await;
    common::assert_error(&over_nats, 412, "not claimed");
    let (status, _) = http(&h, reqwest::Method::PATCH, "/promises/root.1", &[], resolve).await;
    assert_eq!(status, 201, "unfenced, the same write goes through");
    h.stop().await;
}

#[tokio::test]
async fn fencing_headers_must_come_together_and_be_numbers() {
    let h = Harness::start().await;
    let body = json!({"id": "p", "timeout": 1000});
    for headers in [
        vec![("Task-Id", "t")],
        vec![("Task-Counter", "1")],
        vec![("Task-Id", "t"), ("Task-Counter", "one")],
    ] {
        let (status, reply) =
            http(&h, reqwest::Method::POST, "/promises", &headers, body.clone()).await;
        assert_eq!(
            (status, reply["error"]["code"].as_i64()),
            (400, Some(40000)),
            "{headers:?}: {reply}"
        );
        assert!(reply["error"]["message"].as_str().unwrap().contains("Task-"), "{reply}");
    }
    h.stop().await;
}
