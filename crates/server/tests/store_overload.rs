//! A SQLite store whose writer cannot keep up (here: another connection holds the write lock)
//! takes at most `max_queued` writes; the next ones are answered at once with 503 naming the
//! overload, over NATS and over HTTP (with `Retry-After`), and the writes it took complete once
//! the writer moves again.

mod common;

use common::Harness;
use natsapi_store::StoreConfig;
use natsapi_store::sqlite::SqliteConfig;
use serde_json::json;

const MAX_QUEUED: usize = 2;
const REQUESTS: usize = 6;

#[tokio::test]
async fn writes_beyond_the_writers_queue_get_503_at_once_and_the_queued_ones_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = StoreConfig::Sqlite(SqliteConfig {
        path: path.clone(),
        max_queued: MAX_QUEUED,
        ..Default::default()
    });
    let h = Harness::start_with(store).await;
    let far = common::T0 + 3_600_000;

    // Another connection takes the write lock: the writer waits at its next transaction.
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();

    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..REQUESTS {
        let (client, answers) = (h.client.clone(), answers.clone());
        tokio::spawn(async move {
            let reply = client
                .call("promises.create", json!({"id": format!("busy-{i}"), "timeout": far}))
                .await
                .expect("a reply");
            let _ = answers.send(reply);
        });
    }
    // At most MAX_QUEUED writes wait for the writer: the others are answered while it is held.
    let mut replies = Vec::new();
    while replies.len() < REQUESTS - MAX_QUEUED {
        replies.push(answered.recv().await.unwrap());
    }
    for reply in &replies {
        let error = reply.error.as_ref().unwrap_or_else(|| panic!("refused: {reply:?}"));
        assert_eq!(error.code, 503, "{reply:?}");
        assert!(error.message.contains("overloaded"), "{reply:?}");
    }
    let http = reqwest::Client::new();
    let url = format!("http://{}/promises", h.server().http_addr().unwrap());
    let body = json!({"id": "busy-http", "timeout": far}).to_string();
    let response = http.post(&url).body(body).header("content-type", "application/json");
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let text = response.text().await.unwrap();
    assert!(text.contains("overloaded") && text.contains("50300"), "{text}");

    // The writer moves again: the writes it took are committed and answered.
    lock.execute_batch("ROLLBACK").unwrap();
    while let Ok(Some(reply)) =
        tokio::time::timeout(std::time::Duration::from_secs(10), answered.recv()).await
    {
        replies.push(reply);
        if replies.len() == REQUESTS {
            break;
        }
    }
    assert_eq!(replies.len(), REQUESTS);
    let created = replies.iter().filter(|r| r.status == Some(201)).count();
    let refused =
        replies.iter().filter(|r| r.error.as_ref().is_some_and(|e| e.code == 503)).count();
    assert!(created >= 1, "{replies:?}");
    assert_eq!(created + refused, REQUESTS, "{replies:?}");
    let reply = h.call("promises.create", json!({"id": "after", "timeout": far})).await;
    assert_eq!(reply.status, Some(201), "{reply:?}");
    h.stop().await;
}
