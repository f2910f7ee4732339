//! The SSE poller (spec §9.3): workers stream `GET /<group>/<id>` on the poll listener (or under
//! `/poll` on the API port) and receive their task messages as `data: <json>` frames.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use common::Harness;

/// One SSE connection, read frame by frame.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// Opens `GET http://addr/path` and checks it is an event stream.
    async fn open(addr: SocketAddr, path: &str) -> Stream {
        let response = reqwest::get(format!("http://{addr}{path}")).await.expect("connects");
        assert_eq!(response.status(), 200, "GET {path}");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(content_type, Some("text/event-stream"));
        Stream { response, buffer: String::new() }
    }

    /// The next `data:` frame within `wait`, parsed; `None` when none came.
    async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> =
                    frame.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(serde_json::from_str(&data.join("\n")).expect("JSON data"));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            let chunk = chunk.expect("the stream reads").expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next frame, within 5 s.
    async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(5)).await.expect("a message within 5 s")
    }

    /// Nothing arrives for a while.
    async fn assert_quiet(&mut self) {
        let got = self.next_within(Duration::from_millis(300)).await;
        assert!(got.is_none(), "unexpected message {got:?}");
    }
}

fn poll_addr(h: &Harness) -> SocketAddr {
    h.server().poll_addr().expect("poll listener")
}

/// Waits until `group` has `n` connections.
async fn wait_connections(h: &Harness, group: &str, n: usize) {
    for _ in 0..250 {
        if h.server().poll_hub().connections(group) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("group {group} has {} connections, not {n}", h.server().poll_hub().connections(group));
}

/// Creates `id` whose invoke task goes to `recv`.
async fn invoke(h: &Harness, id: &str, recv: &str) {
    let created = h
        .call(
            "promises.create",
            json!({"id": id, "timeout": 3_600_000, "tags": {"resonate:invoke": recv}}),
        )
        .await;
    assert_eq!(created.status, Some(201), "{created:?}");
}

fn assert_invoke(message: &Value, id: &str) {
    assert_eq!(message["type"], "invoke", "{message}");
    assert_eq!(message["task"]["id"], format!("__invoke:{id}"), "{message}");
}

#[tokio::test]
async fn any_reaches_a_connection_of_the_group() {
    let h = Harness::start().await;
    let mut worker = Stream::open(poll_addr(&h), "/workers/w1").await;
    invoke(&h, "p1", "poll://any@workers").await;
    let message = worker.next().await;
    assert_invoke(&message, "p1");
    assert!(message["task"]["counter"].is_i64());
    h.stop().await;
}

#[tokio::test]
async fn uni_goes_only_to_that_id() {
    let h = Harness::start().await;
    let mut a = Stream::open(poll_addr(&h), "/workers/a").await;
    let mut b = Stream::open(poll_addr(&h), "/workers/b").await;
    invoke(&h, "p1", "poll://uni@workers/b").await;
    invoke(&h, "p2", "poll://any@workers/a").await;
    assert_invoke(&b.next().await, "p1");
    assert_invoke(&a.next().await, "p2");
    a.assert_quiet().await;
    b.assert_quiet().await;
    h.stop().await;
}

#[tokio::test]
async fn any_reaches_one_of_two_connections() {
    let h = Harness::start().await;
    let mut a = Stream::open(poll_addr(&h), "/workers/a").await;
    let mut b = Stream::open(poll_addr(&h), "/workers/b").await;
    invoke(&h, "p1", "poll://any@workers").await;
    invoke(&h, "p2", "poll://any@workers").await;
    let mut seen = Vec::new();
    for stream in [&mut a, &mut b] {
        while let Some(message) = stream.next_within(Duration::from_millis(500)).await {
            seen.push(message["task"]["id"].as_str().map(str::to_owned));
        }
    }
    seen.sort();
    assert_eq!(seen, [Some("__invoke:p1".to_owned()), Some("__invoke:p2".to_owned())]);
    h.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_is_forgotten() {
    let h = Harness::start().await;
    let a = Stream::open(poll_addr(&h), "/workers/a").await;
    let mut b = Stream::open(poll_addr(&h), "/workers/b").await;
    wait_connections(&h, "workers", 2).await;
    drop(a);
    wait_connections(&h, "workers", 1).await;
    for id in ["p1", "p2", "p3"] {
        invoke(&h, id, "poll://any@workers/a").await;
        assert_invoke(&b.next().await, id);
    }
    h.stop().await;
}

#[tokio::test]
async fn an_unclaimed_task_is_retried_when_a_connection_appears() {
    let h = Harness::start().await;
    invoke(&h, "p1", "poll://any@late").await;
    // The first delivery finds no connection; give the task timer time to try it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut worker = Stream::open(poll_addr(&h), "/late/w1").await;
    worker.assert_quiet().await;
    h.time.advance(natsapi_core::tasks::TIME_TO_RETRY_MS);
    assert_invoke(&worker.next().await, "p1");
    h.stop().await;
}

#[tokio::test]
async fn the_api_port_serves_poll_too() {
    let h = Harness::start().await;
    let api = h.server().http_addr().expect("HTTP listener");
    let mut worker = Stream::open(api, "/poll/workers/w1").await;
    assert!(worker.response.headers().get("resonate-version").is_some());
    invoke(&h, "p1", "poll://uni@workers/w1").await;
    assert_invoke(&worker.next().await, "p1");
    h.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let h = Harness::start().await;
    let mut worker = Stream::open(poll_addr(&h), "/workers/w1").await;
    let api = h.server().http_addr().expect("HTTP listener");
    let mut other = Stream::open(api, "/poll/workers/w2").await;
    tokio::time::timeout(Duration::from_secs(5), h.stop()).await.expect("shutdown finishes");
    assert!(worker.response.chunk().await.map(|c| c.is_none()).unwrap_or(true));
    assert!(other.response.chunk().await.map(|c| c.is_none()).unwrap_or(true));
}

#[tokio::test]
async fn notify_goes_to_the_exact_id() {
    let h = Harness::start().await;
    let mut a = Stream::open(poll_addr(&h), "/watchers/a").await;
    let mut b = Stream::open(poll_addr(&h), "/watchers/b").await;
    h.call("promises.create", json!({"id": "p", "timeout": 3_600_000})).await;
    let sub = h
        .call(
            "promises.subscribe",
            json!({"promiseId": "p", "id": "s", "recv": "poll://uni@watchers/b"}),
        )
        .await;
    assert_eq!(sub.status, Some(201), "{sub:?}");
    h.call("promises.complete", json!({"id": "p", "state": "RESOLVED"})).await;
    let notify = b.next().await;
    assert_eq!(notify["type"], "notify", "{notify}");
    assert_eq!(notify["promise"]["id"], "p");
    assert_eq!(notify["promise"]["state"], "RESOLVED");
    a.assert_quiet().await;
    h.stop().await;
}

#[tokio::test]
async fn a_notify_never_goes_to_another_connection_of_the_group() {
    let h = Harness::start().await;
    // The SDK's subscription recv: a poll object naming its own process id (cast any).
    let mut other = Stream::open(poll_addr(&h), "/watchers/other").await;
    h.call("promises.create", json!({"id": "p", "timeout": 3_600_000})).await;
    let recv = json!({"type": "poll", "data": {"group": "watchers", "id": "gone"}});
    let sub =
        h.call("promises.subscribe", json!({"promiseId": "p", "id": "s", "recv": recv})).await;
    assert_eq!(sub.status, Some(201), "{sub:?}");
    h.call("promises.complete", json!({"id": "p", "state": "RESOLVED"})).await;
    other.assert_quiet().await;
    h.stop().await;
}

#[tokio::test]
async fn a_task_delivered_but_never_claimed_is_sent_again_with_the_next_counter() {
    let h = Harness::start().await;
    // The first worker's stream swallows the message (as a crashed process's socket would).
    let mut first = Stream::open(poll_addr(&h), "/workers/dead").await;
    invoke(&h, "p1", "poll://any@workers").await;
    let message = first.next().await;
    assert_invoke(&message, "p1");
    let counter = message["task"]["counter"].as_i64().expect("a counter");
    drop(first);
    wait_connections(&h, "workers", 0).await;
    let mut second = Stream::open(poll_addr(&h), "/workers/alive").await;
    h.time.advance(natsapi_core::tasks::TIME_TO_CLAIM_MS);
    let again = second.next().await;
    assert_invoke(&again, "p1");
    assert_eq!(again["task"]["counter"].as_i64(), Some(counter + 1), "{again}");
    h.stop().await;
}

#[tokio::test]
async fn the_stream_is_chunked_http_1_1() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start().await;
    let mut socket = tokio::net::TcpStream::connect(poll_addr(&h)).await.expect("connects");
    socket
        .write_all(b"GET /workers/w1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request written");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut byte))
            .await
            .expect("the head within 5 s")
            .expect("reads");
        assert_eq!(n, 1, "the connection closed early: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    drop(socket);
    h.stop().await;
}
