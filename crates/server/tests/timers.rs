//! The promise timer acts on deadlines as the (manual) clock reaches them, without any request
//! touching the promise.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, T0};
use natsapi_core::PromiseState;
use serde_json::json;

/// Waits (bounded, in real time) for the background timer to store `state` for `id`.
async fn eventually_stored(h: &Harness, id: &str, state: PromiseState) -> natsapi_core::Promise {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stored = h.peek(id).await.expect("promise exists");
        if stored.state == state {
            return stored;
        }
        assert!(Instant::now() < deadline, "{id} still {:?}", stored.state);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn timer_times_out_promises_when_the_clock_reaches_their_deadline() {
    let h = Harness::start().await;
    for (id, timeout, tags) in [
        ("soon", 1_000, json!({})),
        ("sleep", 1_000, json!({"resonate:timeout":"true"})),
        ("later", 5_000, json!({})),
    ] {
        let reply = h.call("promises.create", json!({"id":id,"timeout":timeout,"tags":tags})).await;
        assert_eq!(reply.status, Some(201));
    }
    h.time.advance(999);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.peek("soon").await.unwrap().state, PromiseState::Pending, "not due yet");

    h.time.advance(1);
    let soon = eventually_stored(&h, "soon", PromiseState::RejectedTimedout).await;
    assert_eq!(soon.completed_on, Some(T0 + 1_000), "completedOn is the deadline");
    let sleep = eventually_stored(&h, "sleep", PromiseState::Resolved).await;
    assert_eq!(sleep.completed_on, Some(T0 + 1_000));
    assert_eq!(h.peek("later").await.unwrap().state, PromiseState::Pending);

    // A promise created after the timer went to sleep on a later deadline still wakes it.
    let reply = h.call("promises.create", json!({"id":"sooner","timeout":T0 + 1_500})).await;
    assert_eq!(reply.status, Some(201));
    h.time.advance(500);
    eventually_stored(&h, "sooner", PromiseState::RejectedTimedout).await;
    h.time.advance(3_500);
    eventually_stored(&h, "later", PromiseState::RejectedTimedout).await;
    h.stop().await;
}

#[tokio::test]
async fn a_backlog_is_drained_in_batches() {
    let h = Harness::start().await;
    let count = natsapi_server::timer::PROMISE_TIMEOUT_BATCH * 2 + 17;
    let calls = (0..count).map(|i| {
        let client = h.client.clone();
        async move {
            client.call("promises.create", json!({"id": format!("b{i}"), "timeout": 10})).await
        }
    });
    for reply in futures::future::join_all(calls).await {
        assert_eq!(reply.unwrap().status, Some(201));
    }
    h.time.advance(10);
    for i in [0, count / 2, count - 1] {
        eventually_stored(&h, &format!("b{i}"), PromiseState::RejectedTimedout).await;
    }
    let pending = h.call("promises.search", json!({"id":"b*","states":["PENDING"]})).await;
    let page = pending.response.as_ref().unwrap_or_else(|| panic!("{pending:?}"));
    assert_eq!(page["promises"], json!([]));
    h.stop().await;
}
