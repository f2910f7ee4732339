//! Waiting on an ingest gateway that a test started, over its HTTP port.

use std::time::{Duration, Instant};

/// Waits until the gateway at `base` (`http://host:port`) answers `GET /ready` with 200, for
/// 30 s at most.
pub async fn wait_ready(base: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/ready")).send().await.map(|r| r.status() != 200).unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the gateway never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the gateway at `base` reports message `id` as `expected`, panicking with the last
/// status once `deadline` has passed.
pub async fn wait_for_status(base: &str, id: &str, expected: &str, deadline: Instant) {
    let http = reqwest::Client::new();
    loop {
        let status: serde_json::Value = http
            .get(format!("{base}/ingest/status/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never became {expected}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
