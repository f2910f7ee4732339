//! The promise routes of the HTTP API (spec §12.1): create, read, complete and search, their
//! headers and error bodies, and agreement with the NATS transport.

mod common;

use common::http::{Http, Step, assert_error, run_step, step};
use common::{Harness, T0};
use serde_json::{Value, json};

#[tokio::test]
async fn create_replays_with_the_same_key_and_conflicts_without() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let body = r#"{"id":"p1","timeout":1700000060000,"param":{"data":"aGk="},"tags":{"a":"b"}}"#;
    let created = http.post("/promises", &[("Idempotency-Key", "k1")], body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["id"], "p1");
    assert_eq!(created.body["state"], "PENDING");
    assert_eq!(created.body["idempotencyKeyForCreate"], "k1");
    assert_eq!(created.body["param"]["data"], "aGk=");
    assert_eq!(created.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(created.request_id.is_some());

    let replay =
        http.post("/promises", &[("Idempotency-Key", "k1"), ("Strict", "True")], body).await;
    assert_eq!(replay.status, 200, "{replay:?}");
    assert_eq!(replay.body, created.body);

    let conflict = http.post("/promises", &[], body).await;
    assert_error(&conflict, 40900);
    let other_key = http.post("/promises", &[("Idempotency-Key", "k2")], body).await;
    assert_error(&other_key, 40900);
    let metrics = http.client.get(format!("{}/metrics", http.base)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let has = |needle: &str| metrics.lines().any(|l| l.contains(needle));
    assert!(
        has(r#"natsapi_requests_total{transport="http",operation="promises.create",status="409"}"#),
        "{metrics}"
    );
    h.stop().await;
}

#[tokio::test]
async fn read_takes_ids_with_slashes_and_echoes_the_request_id() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let created = http.post("/promises", &[], r#"{"id":"a/b/c","timeout":1700000060000}"#).await;
    assert_eq!(created.status, 201, "{created:?}");
    let read =
        http.send(reqwest::Method::GET, "/promises/a/b/c", &[("request-id", "req-7")], None).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body, created.body);
    assert_eq!(read.request_id.as_deref(), Some("req-7"));
    let encoded = http.get("/promises/a%2Fb%2Fc").await;
    assert_eq!(encoded.body, created.body);
    let absent = http.get("/promises/a/b").await;
    assert_error(&absent, 40400);
    assert!(absent.version.is_some());
    h.stop().await;
}

#[tokio::test]
async fn complete_answers_201_then_403_and_replays_with_the_key() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    http.post("/promises", &[], r#"{"id":"c1","timeout":1700000060000}"#).await;
    let done = http
        .patch(
            "/promises/c1",
            &[("Idempotency-Key", "ck")],
            r#"{"state":"RESOLVED","value":{"data":"b2s="}}"#,
        )
        .await;
    assert_eq!(done.status, 201, "{done:?}");
    assert_eq!(done.body["state"], "RESOLVED");
    assert_eq!(done.body["idempotencyKeyForComplete"], "ck");

    let replay = http
        .patch(
            "/promises/c1",
            &[("Idempotency-Key", "ck"), ("Strict", "true")],
            r#"{"state":"resolved"}"#,
        )
        .await;
    assert_eq!(replay.status, 200, "{replay:?}");
    assert_eq!(replay.body, done.body);

    let again = http.patch("/promises/c1", &[], r#"{"state":"REJECTED"}"#).await;
    assert_error(&again, 40300);
    let absent = http.patch("/promises/none", &[], r#"{"state":"REJECTED"}"#).await;
    assert_error(&absent, 40400);
    let timedout = http.patch("/promises/c1", &[], r#"{"state":"REJECTED_TIMEDOUT"}"#).await;
    assert_error(&timedout, 40000);
    h.stop().await;
}

#[tokio::test]
async fn search_filters_by_state_and_tags_and_pages_with_a_cursor() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    for i in 0..5 {
        let body = json!({"id": format!("s/{i}"), "timeout": T0 + 60_000, "tags": {"group": "g"}});
        let answer = http.post("/promises", &[], &body.to_string()).await;
        assert_eq!(answer.status, 201);
    }
    http.post("/promises", &[], r#"{"id":"s/other","timeout":1700000060000}"#).await;
    http.patch("/promises/s/0", &[], r#"{"state":"REJECTED_CANCELED"}"#).await;

    let rejected = http.get("/promises?id=s/*&state=Rejected").await;
    assert_eq!(rejected.status, 200, "{rejected:?}");
    let ids: Vec<&str> = rejected.body["promises"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["s/0"]);

    let first = http.get("/promises?id=s/*&state=PENDING&tags[group]=g&limit=2").await;
    assert_eq!(first.status, 200, "{first:?}");
    let mut seen: Vec<String> = Vec::new();
    let mut page = first;
    loop {
        for p in page.body["promises"].as_array().unwrap() {
            assert_eq!(p["state"], "PENDING");
            assert_eq!(p["tags"]["group"], "g");
            seen.push(p["id"].as_str().unwrap().to_owned());
        }
        let Some(cursor) = page.body["cursor"].as_str() else { break };
        page = http.get(&format!("/promises?cursor={cursor}")).await;
        assert_eq!(page.status, 200, "{page:?}");
    }
    assert_eq!(seen, ["s/4", "s/3", "s/2", "s/1"]);

    assert_error(&http.get("/promises?id=s/*&state=timedout").await, 40000);
    assert_error(&http.get("/promises?id=").await, 40000);
    assert_error(&http.get("/promises?id=*&limit=101").await, 40000);
    assert_error(&http.get("/promises?id=*&limit=ten").await, 40000);
    assert_error(&http.get("/promises?cursor=garbage").await, 40000);
    h.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_error_body() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    for body in [
        "",
        "{",
        "[1]",
        r#"{"timeout":1}"#,
        r#"{"id":7,"timeout":1}"#,
        r#"{"id":"x","timeout":"soon"}"#,
        r#"{"id":"x","timeout":9223372036854775808}"#,
        r#"{"id":"x","timeout":1e30}"#,
        r#"{"id":"x","timeout":1,"tags":{"a":1}}"#,
        // No store keeps the NUL character in text alike (PostgreSQL refuses it): refused.
        r#"{"id":"x\u0000y","timeout":1}"#,
        r#"{"id":"x","timeout":1,"tags":{"k":"\u0000"}}"#,
        r#"{"id":"x","timeout":1,"param":{"headers":{"\u0000":"v"}}}"#,
    ] {
        let answer = http.post("/promises", &[], body).await;
        assert_error(&answer, 40000);
        let message = answer.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.starts_with("body"), "{message}");
        assert!(answer.version.is_some());
    }
    let strict = http.post("/promises", &[("Strict", "yes")], r#"{"id":"x","timeout":1}"#).await;
    assert_error(&strict, 40000);
    http.post("/promises", &[], r#"{"id":"y","timeout":1700000060000}"#).await;
    for body in ["", r#"{"state":"PENDING"}"#, r#"{"state":"DONE"}"#, r#"{"state":3}"#, "{}"] {
        assert_error(&http.patch("/promises/y", &[], body).await, 40000);
    }
    let nul = http.get("/promises/a%00b").await;
    assert_error(&nul, 40000);
    assert!(nul.body["error"]["message"].as_str().unwrap_or("").contains("NUL"), "{:?}", nul.body);
    let unknown = http.get("/nowhere").await;
    assert_error(&unknown, 40400);
    assert!(unknown.version.is_some());
    let method = http.send(reqwest::Method::DELETE, "/promises/y", &[], None).await;
    assert_error(&method, 40500);
    // The failed requests changed nothing.
    assert_eq!(h.peek("x").await, None);
    assert_eq!(http.get("/promises/y").await.body["state"], "PENDING");
    h.stop().await;
}

fn steps() -> Vec<Step> {
    use reqwest::Method;
    vec![
        step(
            "promises.create",
            json!({"id":"n/1","idempotencyKey":"k","timeout":T0 + 60_000,"tags":{"t":"1"}}),
            Method::POST,
            "/promises",
            &[("Idempotency-Key", "k")],
            Some(json!({"id":"n/1","timeout":T0 + 60_000,"tags":{"t":"1"}})),
        ),
        step(
            "promises.create",
            json!({"id":"n/1","idempotencyKey":"k","strict":true,"timeout":T0 + 60_000}),
            Method::POST,
            "/promises",
            &[("Idempotency-Key", "k"), ("Strict", "true")],
            Some(json!({"id":"n/1","timeout":T0 + 60_000})),
        ),
        step(
            "promises.create",
            json!({"id":"n/1","timeout":T0 + 60_000}),
            Method::POST,
            "/promises",
            &[],
            Some(json!({"id":"n/1","timeout":T0 + 60_000})),
        ),
        step(
            "promises.create",
            json!({"id":"n/2","param":{"headers":{"h":"v"},"data":"eA=="},"timeout":T0 + 1}),
            Method::POST,
            "/promises",
            &[],
            Some(json!({"id":"n/2","param":{"headers":{"h":"v"},"data":"eA=="},"timeout":T0 + 1})),
        ),
        step("promises.read", json!({"id":"n/1"}), Method::GET, "/promises/n/1", &[], None),
        step("promises.read", json!({"id":"n/9"}), Method::GET, "/promises/n/9", &[], None),
        step(
            "promises.complete",
            json!({"id":"n/1","idempotencyKey":"c","state":"REJECTED","value":{"data":"eQ=="}}),
            Method::PATCH,
            "/promises/n/1",
            &[("Idempotency-Key", "c")],
            Some(json!({"state":"REJECTED","value":{"data":"eQ=="}})),
        ),
        step(
            "promises.complete",
            json!({"id":"n/1","idempotencyKey":"c","strict":true,"state":"RESOLVED"}),
            Method::PATCH,
            "/promises/n/1",
            &[("Idempotency-Key", "c"), ("Strict", "true")],
            Some(json!({"state":"RESOLVED"})),
        ),
        step(
            "promises.search",
            json!({"id":"n/*","states":["REJECTED","REJECTED_CANCELED","REJECTED_TIMEDOUT"]}),
            Method::GET,
            "/promises?id=n/*&state=rejected",
            &[],
            None,
        ),
        step(
            "promises.search",
            json!({"id":"*","tags":{"t":"1"},"limit":1}),
            Method::GET,
            "/promises?id=*&tags[t]=1&limit=1",
            &[],
            None,
        ),
        step(
            "promises.search",
            json!({"id":"","limit":0}),
            Method::GET,
            "/promises?id=&limit=0",
            &[],
            None,
        ),
    ]
}

/// `(status, body)` of each step, over NATS or over HTTP; an error body is reduced to its code.
async fn run_steps(over_http: bool) -> Vec<(u16, Value)> {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let mut results = Vec::new();
    for (i, step) in steps().into_iter().enumerate() {
        if i == 4 {
            // n/2 is due from here on, on both transports.
            h.time.advance(5);
        }
        let result = run_step(&h, &http, i, step, over_http).await;
        results.push(result);
    }
    h.stop().await;
    results
}

#[tokio::test]
async fn the_same_sequence_gives_the_same_results_over_nats_and_http() {
    let nats = run_steps(false).await;
    let http = run_steps(true).await;
    assert_eq!(nats.len(), http.len());
    for (i, (n, h)) in nats.iter().zip(&http).enumerate() {
        assert_eq!(n, h, "step {i}");
    }
    let statuses: Vec<u16> = http.iter().map(|r| r.0).collect();
    assert_eq!(statuses, [201, 200, 409, 201, 200, 404, 201, 403, 200, 200, 400]);
}
