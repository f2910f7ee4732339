//! The server delivers work over NATS end to end: a worker subscribed on a `nats://` subject
//! receives an invoke task, claims it and suspends on a child promise through a callback; when
//! the child completes, a second worker receives the resume task, claims it (with the root and
//! the completed leaf) and completes the root, which ends the execution's tasks.

mod common;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use common::Harness;

/// The next task message on `subscription`, parsed.
async fn next_message(subscription: &mut async_nats::Subscriber) -> (Value, Option<String>) {
    let message = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("a task message within 5 s")
        .expect("the subscription is open");
    let msg_id =
        message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_owned());
    (serde_json::from_slice(&message.payload).expect("JSON task message"), msg_id)
}

#[tokio::test]
async fn invoke_then_resume_through_nats_workers() {
    let h = Harness::start().await;
    let nats = h.client.nats().clone();
    let mut worker_a = nats.subscribe("workers.a").await.unwrap();
    let mut worker_b = nats.subscribe("workers.b").await.unwrap();
    nats.flush().await.unwrap();

    let created = h
        .call(
            "promises.create",
            json!({"id": "root", "timeout": 3_600_000, "tags": {"resonate:invoke": "nats://workers.a"}}),
        )
        .await;
    assert_eq!(created.status, Some(201), "{created:?}");

    // Worker A gets the invoke task and claims it.
    let (invoke, msg_id) = next_message(&mut worker_a).await;
    assert_eq!(invoke["type"], "invoke");
    assert_eq!(invoke["task"]["id"], "__invoke:root");
    assert_eq!(msg_id.as_deref(), Some("__invoke:root:1"));
    let counter = invoke["task"]["counter"].as_i64().unwrap();
    let claimed = h
        .call("tasks.claim", json!({"id": "__invoke:root", "counter": counter, "processId": "a"}))
        .await;
    assert_eq!(claimed.status, Some(201), "{claimed:?}");
    let answer = claimed.response.unwrap();
    assert_eq!(
        (answer["type"].as_str(), answer["promises"]["root"]["id"].as_str()),
        (Some("invoke"), Some("root"))
    );

    // It starts a child and waits on it through a callback that resumes on worker B.
    let child = h.call("promises.create", json!({"id": "root.child", "timeout": 3_600_000})).await;
    assert_eq!(child.status, Some(201));
    let callback = h
        .call(
            "promises.callback",
            json!({"promiseId": "root.child", "rootPromiseId": "root", "recv": "nats://workers.b"}),
        )
        .await;
    assert_eq!(callback.status, Some(201), "{callback:?}");
    assert_eq!(callback.response.unwrap()["callback"]["id"], "__resume:root:root.child");
    let done = h.call("tasks.complete", json!({"id": "__invoke:root", "counter": counter})).await;
    assert_eq!(done.status, Some(201), "{done:?}");

    // The child completes: worker B is resumed with the root and the completed leaf.
    let resolved = h
        .call(
            "promises.complete",
            json!({"id": "root.child", "state": "RESOLVED", "value": {"data": "NDI="}}),
        )
        .await;
    assert_eq!(resolved.status, Some(201));
    let (resume, _) = next_message(&mut worker_b).await;
    assert_eq!(resume["type"], "resume");
    let task_id = resume["task"]["id"].as_str().unwrap().to_owned();
    let counter = resume["task"]["counter"].as_i64().unwrap();
    let claimed =
        h.call("tasks.claim", json!({"id": task_id, "counter": counter, "processId": "b"})).await;
    assert_eq!(claimed.status, Some(201), "{claimed:?}");
    let answer = claimed.response.unwrap();
    assert_eq!(answer["type"], "resume");
    assert_eq!(answer["promises"]["leaf"]["data"]["state"], "RESOLVED");
    assert_eq!(answer["promises"]["leaf"]["data"]["value"]["data"], "NDI=");

    // Worker B finishes the execution.
    let finished = h.call("promises.complete", json!({"id": "root", "state": "RESOLVED"})).await;
    assert_eq!(finished.status, Some(201));
    // Completing the root completed its tasks: the claim is over, a complete is a replay.
    let replay = h.call("tasks.complete", json!({"id": task_id, "counter": counter})).await;
    assert_eq!(replay.status, Some(200), "{replay:?}");
    // Nothing else is delivered.
    let quiet = tokio::time::timeout(Duration::from_millis(300), worker_a.next()).await;
    assert!(quiet.is_err(), "no further task for worker A");
    h.stop().await;
}

#[tokio::test]
async fn a_subscriber_is_notified_once_when_the_promise_completes() {
    let h = Harness::start().await;
    let nats = h.client.nats().clone();
    let mut watcher = nats.subscribe("watchers").await.unwrap();
    nats.flush().await.unwrap();
    h.call("promises.create", json!({"id": "p", "timeout": 3_600_000})).await;
    let sub = h
        .call(
            "promises.subscribe",
            json!({"promiseId": "p", "id": "w1", "recv": "nats://watchers"}),
        )
        .await;
    assert_eq!(sub.status, Some(201), "{sub:?}");
    h.call("promises.complete", json!({"id": "p", "state": "REJECTED"})).await;
    let (notify, _) = next_message(&mut watcher).await;
    assert_eq!(notify["type"], "notify");
    assert_eq!(
        (notify["promise"]["id"].as_str(), notify["promise"]["state"].as_str()),
        (Some("p"), Some("REJECTED"))
    );
    h.stop().await;
}

#[tokio::test]
async fn a_receiver_nothing_could_be_delivered_to_is_a_bad_request() {
    let h = Harness::start().await;
    for (operation, payload, needle) in [
        (
            "promises.create",
            json!({"id": "p", "timeout": 1000, "tags": {"resonate:invoke": "ftp://nowhere"}}),
            "resonate:invoke",
        ),
        (
            "promises.callback",
            json!({"promiseId": "a", "rootPromiseId": "b", "recv": "nats://bad subject"}),
            "payload.recv",
        ),
        (
            "promises.subscribe",
            json!({"promiseId": "a", "id": "s", "recv": {"type": "carrier-pigeon"}}),
            "payload.recv",
        ),
        ("tasks.claim", json!({"id": "t"}), "counter"),
    ] {
        let reply = h.call(operation, payload).await;
        common::assert_error(&reply, 400, needle);
    }
    h.stop().await;
}

/// An HTTP receiver that answers 500 to its first `failures` POSTs and 200 after, and hands
/// every body it took to `taken`.
async fn flaky_receiver(
    failures: usize,
) -> (std::net::SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (taken, bodies) = tokio::sync::mpsc::unbounded_channel();
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let calls = calls.clone();
            let taken = taken.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) < failures {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let _ = taken.send(serde_json::from_slice::<Value>(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, bodies)
}

#[tokio::test]
async fn a_failed_http_delivery_to_a_named_target_is_retried_after_the_back_off() {
    let (addr, mut bodies) = flaky_receiver(1).await;
    let targets = [("billing".to_owned(), format!("http://{addr}/hook"))].into_iter().collect();
    let h = Harness::start_configured(natsapi_store::StoreConfig::memory(), targets).await;
    let created = h
        .call("promises.create", json!({"id": "invoice-7", "timeout": 3_600_000, "tags": {"resonate:invoke": "billing"}}))
        .await;
    assert_eq!(created.status, Some(201), "{created:?}");
    // The first POST fails; nothing arrives until the 15 s back-off has passed.
    let early = tokio::time::timeout(Duration::from_millis(300), bodies.recv()).await;
    assert!(early.is_err(), "no delivery before the back-off: {early:?}");
    h.time.advance(natsapi_core::tasks::TIME_TO_RETRY_MS);
    let body = tokio::time::timeout(Duration::from_secs(5), bodies.recv())
        .await
        .expect("redelivered after the back-off")
        .unwrap();
    assert_eq!(
        (body["type"].as_str(), body["task"]["id"].as_str()),
        (Some("invoke"), Some("__invoke:invoice-7"))
    );
    assert_eq!(body["task"]["counter"], 1, "a failed delivery keeps its counter");
    h.stop().await;
}

#[tokio::test]
async fn an_unclaimed_task_is_delivered_again_under_the_next_counter() {
    let h = Harness::start().await;
    let nats = h.client.nats().clone();
    let mut worker = nats.subscribe("workers.slow").await.unwrap();
    nats.flush().await.unwrap();
    h.call("promises.create", json!({"id": "p", "timeout": 3_600_000, "tags": {"resonate:invoke": "nats://workers.slow"}}))
        .await;
    let (first, _) = next_message(&mut worker).await;
    assert_eq!(first["task"]["counter"], 1);
    // Nobody claims it within the claim window: it goes out again, and the old counter is stale.
    h.time.advance(natsapi_core::tasks::TIME_TO_CLAIM_MS);
    let (second, msg_id) = next_message(&mut worker).await;
    assert_eq!(second["task"]["counter"], 2);
    assert_eq!(msg_id.as_deref(), Some("__invoke:p:2"));
    let stale =
        h.call("tasks.claim", json!({"id": "__invoke:p", "counter": 1, "processId": "w"})).await;
    common::assert_error(&stale, 403, "counter");
    let claimed =
        h.call("tasks.claim", json!({"id": "__invoke:p", "counter": 2, "processId": "w"})).await;
    assert_eq!(claimed.status, Some(201), "{claimed:?}");
    h.stop().await;
}

#[tokio::test]
async fn a_subscription_carries_its_caller_s_trace_context_to_the_notify_message() {
    let h = Harness::start().await;
    let nats = h.client.nats().clone();
    let mut watcher = nats.subscribe("traced").await.unwrap();
    nats.flush().await.unwrap();
    h.call("promises.create", json!({"id": "t", "timeout": 3_600_000})).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", traceparent);
    let (sub, _) = h
        .client
        .call_with(
            "promises.subscribe",
            None,
            json!({"promiseId": "t", "id": "w", "recv": "nats://traced"}),
            headers,
        )
        .await
        .unwrap();
    assert_eq!(sub.status, Some(201), "{sub:?}");
    h.call("promises.complete", json!({"id": "t", "state": "RESOLVED"})).await;
    let message = tokio::time::timeout(Duration::from_secs(5), watcher.next())
        .await
        .expect("a notify within 5 s")
        .unwrap();
    let received = message.headers.as_ref().and_then(|h| h.get("traceparent")).map(|v| v.as_str());
    assert_eq!(received, Some(traceparent));
    h.stop().await;
}

#[tokio::test]
async fn an_invoke_task_carries_the_trace_context_of_the_create_that_made_it() {
    let h = Harness::start().await;
    let nats = h.client.nats().clone();
    let mut worker = nats.subscribe("workers.traced").await.unwrap();
    nats.flush().await.unwrap();
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", traceparent);
    let payload = json!({"id": "job", "timeout": 3_600_000, "tags": {"resonate:invoke": "nats://workers.traced"}});
    let (created, _) = h.client.call_with("promises.create", None, payload, headers).await.unwrap();
    assert_eq!(created.status, Some(201), "{created:?}");
    let message = tokio::time::timeout(Duration::from_secs(5), worker.next())
        .await
        .expect("an invoke within 5 s")
        .unwrap();
    let received = message.headers.as_ref().and_then(|h| h.get("traceparent")).map(|v| v.as_str());
    assert_eq!(received, Some(traceparent));
    h.stop().await;
}
