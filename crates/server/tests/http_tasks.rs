//! The task, callback, schedule and lock routes of the HTTP API (spec §12.1): the invoke → claim →
//! complete flow in POST and GET forms, callbacks and subscriptions, schedules, locks, bad input,
//! and agreement with the NATS transport.

mod common;

use common::http::{Answer, Http, Step, run_step, step};
use common::{Harness, T0};
use serde_json::{Value, json};

/// Asserts the spec's error body with this five-digit code, and the version header.
fn assert_error(answer: &Answer, code: u32) {
    common::http::assert_error(answer, code);
    assert!(answer.version.is_some());
}

/// Creates a pending promise whose invoke task goes to a NATS subject.
async fn invoke(http: &Http, id: &str) {
    let body = json!({"id": id, "timeout": T0 + 3_600_000, "tags": {"resonate:invoke": "nats://workers.a"}});
    let created = http.post_json("/promises", body).await;
    assert_eq!(created.status, 201, "{created:?}");
}

#[tokio::test]
async fn invoke_claim_complete_over_post_and_get() {
    let h = Harness::start().await;
    let http = Http::new(&h);

    // POST forms.
    invoke(&http, "inv/1").await;
    let claim = json!({"id": "__invoke:inv/1", "counter": 1, "processId": "w1", "ttl": 30_000});
    let claimed = http.post_json("/tasks/claim", claim.clone()).await;
    assert_eq!(claimed.status, 201, "{claimed:?}");
    assert_eq!(claimed.body["type"], "invoke");
    assert_eq!(claimed.body["promises"]["root"]["id"], "inv/1");
    assert_eq!(claimed.body["promises"]["root"]["data"]["state"], "PENDING");
    assert!(claimed.body["promises"].get("leaf").is_none(), "{claimed:?}");
    assert_error(&http.post_json("/tasks/claim", claim).await, 40305);
    let beat = http.post_json("/tasks/heartbeat", json!({"processId": "w1"})).await;
    assert_eq!((beat.status, beat.body.clone()), (200, json!({"tasksAffected": 1})), "{beat:?}");
    let task = json!({"id": "__invoke:inv/1", "counter": 1});
    let done = http.post_json("/tasks/complete", task.clone()).await;
    assert_eq!(done.status, 201, "{done:?}");
    assert_eq!(done.body["id"], "__invoke:inv/1");
    assert_eq!(done.body["counter"], 1);
    let again = http.post_json("/tasks/complete", task).await;
    assert_eq!(again.status, 200, "{again:?}");

    // GET forms: the task id has `:` and `/`; the process is `<id>/<counter>`.
    invoke(&http, "inv/2").await;
    let claimed = http.get("/tasks/claim/__invoke:inv/2/1").await;
    assert_eq!(claimed.status, 201, "{claimed:?}");
    assert_eq!(claimed.body["promises"]["root"]["id"], "inv/2");
    let beat = http.get("/tasks/heartbeat/__invoke:inv/2/1").await;
    assert_eq!((beat.status, beat.body.clone()), (200, json!({"tasksAffected": 1})), "{beat:?}");
    let beat = http.post_json("/tasks/heartbeat", json!({"processId": "__invoke:inv/2/1"})).await;
    assert_eq!(beat.body, json!({"tasksAffected": 1}), "{beat:?}");
    let done = http.get("/tasks/complete/__invoke%3Ainv%2F2/1").await;
    assert_eq!(done.status, 201, "{done:?}");
    assert_eq!(done.body["id"], "__invoke:inv/2");

    // Drop: the 201 has no body and the counter goes up.
    invoke(&http, "inv/3").await;
    assert_eq!(http.get("/tasks/claim/__invoke:inv/3/1").await.status, 201);
    let dropped = http.get("/tasks/drop/__invoke:inv/3/1").await;
    assert_eq!((dropped.status, dropped.body.clone()), (201, Value::Null), "{dropped:?}");
    assert_error(&http.get("/tasks/claim/__invoke:inv/3/1").await, 40307);
    let claim = json!({"id": "__invoke:inv/3", "counter": 2, "processId": "w3", "ttl": 1000});
    assert_eq!(http.post_json("/tasks/claim", claim).await.status, 201);
    let dropped =
        http.post_json("/tasks/drop", json!({"id": "__invoke:inv/3", "counter": 2})).await;
    assert_eq!((dropped.status, dropped.body.clone()), (201, Value::Null), "{dropped:?}");
    let noop = http.post_json("/tasks/drop", json!({"id": "__invoke:inv/3", "counter": 3})).await;
    assert_eq!(noop.status, 200, "{noop:?}");
    assert_error(&http.get("/tasks/complete/__invoke:none/1").await, 40403);
    h.stop().await;
}

#[tokio::test]
async fn create_task_claims_the_invoke_task_at_once() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let body = json!({
        "promise": {"id": "ct", "timeout": T0 + 60_000, "param": {"data": "eA=="},
                    "tags": {"resonate:invoke": "nats://workers.a"}},
        "task": {"processId": "p1", "ttl": 30_000},
    });
    let created = http.post("/promises/task", &[("Idempotency-Key", "k")], &body.to_string()).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["promise"]["id"], "ct");
    assert_eq!(created.body["promise"]["idempotencyKeyForCreate"], "k");
    assert_eq!(created.body["task"]["id"], "__invoke:ct");
    assert_eq!(created.body["task"]["counter"], 1);
    assert_eq!(created.body["task"]["processId"], "p1");
    let replay = http.post("/promises/task", &[("Idempotency-Key", "k")], &body.to_string()).await;
    assert_eq!(replay.status, 200, "{replay:?}");
    assert_eq!(replay.body["task"], Value::Null);
    let done = http.get("/tasks/complete/__invoke:ct/1").await;
    assert_eq!(done.status, 201, "{done:?}");

    let zero = json!({
        "promise": {"id": "zero", "timeout": T0 + 60_000, "tags": {"resonate:invoke": "nats://w"}},
        "task": {"processId": "p", "ttl": 0},
    });
    let created = http.post_json("/promises/task", zero).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["task"]["id"], "__invoke:zero");

    let untagged =
        json!({"promise": {"id": "plain", "timeout": T0 + 60_000}, "task": {"processId": "p"}});
    let created = http.post_json("/promises/task", untagged).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["task"], Value::Null);
    // `/promises/task` is still the promise `task` for GET.
    assert_error(&http.get("/promises/task").await, 40400);

    for (bad, field) in [
        (json!({"promise": {"id": "b", "timeout": 1}, "task": {"processId": "p", "ttl": -1}}), ""),
        (json!({"promise": {"id": "b", "timeout": 1}, "task": {"ttl": 1}}), "body.task.processId"),
        (
            json!({"promise": {"id": "b", "timeout": "x"}, "task": {"processId": "p"}}),
            "body.promise.timeout",
        ),
        (json!({"promise": {"id": "b", "timeout": 1}}), "body"),
        (json!({"promise": 3, "task": {"processId": "p"}}), "body.promise"),
    ] {
        let answer = http.post_json("/promises/task", bad).await;
        assert_error(&answer, 40000);
        let message = answer.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.starts_with(field), "{message} names {field}");
    }
    assert_eq!(h.peek("b").await, None);
    h.stop().await;
}

#[tokio::test]
async fn callbacks_and_subscriptions_then_the_resume_task() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    for id in ["root", "leaf/1"] {
        let body = json!({"id": id, "timeout": T0 + 3_600_000});
        assert_eq!(http.post_json("/promises", body).await.status, 201);
    }
    let callback =
        json!({"rootPromiseId": "root", "recv": "nats://workers.b", "timeout": T0 + 60_000});
    let created = http.post_json("/promises/callback/leaf/1", callback.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["callback"]["id"], "__resume:root:leaf/1");
    assert_eq!(created.body["promise"]["id"], "leaf/1");
    let again = http.post_json("/promises/callback/leaf/1", callback).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["callback"], Value::Null);

    let subscribe = json!({"id": "s1", "recv": {"type": "nats", "data": {"subject": "watch"}}});
    let created = http.post_json("/promises/subscribe/leaf/1", subscribe).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["callback"]["id"], "__notify:leaf/1:s1");
    let deprecated =
        json!({"promiseId": "leaf/1", "id": "s2", "recv": "nats://watch", "timeout": T0 + 60_000});
    let created = http.post_json("/subscriptions", deprecated).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["callback"]["id"], "__notify:leaf/1:s2");
    let deprecated = json!({"promiseId": "root", "rootPromiseId": "leaf/1", "recv": "nats://w"});
    let created = http.post_json("/callbacks", deprecated).await;
    assert_eq!(created.status, 201, "{created:?}");

    // Bad input and absent promises.
    let same = json!({"rootPromiseId": "leaf/1", "recv": "nats://w"});
    assert_error(&http.post_json("/promises/callback/leaf/1", same).await, 40000);
    let absent = json!({"rootPromiseId": "root", "recv": "nats://w"});
    assert_error(&http.post_json("/promises/callback/none", absent).await, 40400);
    let no_recv = json!({"rootPromiseId": "root"});
    assert_error(&http.post_json("/promises/callback/leaf/1", no_recv).await, 40000);
    let bad_recv = json!({"id": "s3", "recv": "nats://bad subject"});
    assert_error(&http.post_json("/promises/subscribe/leaf/1", bad_recv).await, 40000);
    assert_error(&http.post("/subscriptions", &[], "[]").await, 40000);
    assert_error(&http.post("/callbacks", &[], "").await, 40000);

    // The promise `callback/x` is still read and completed under its own path.
    let body = json!({"id": "callback/x", "timeout": T0 + 60_000});
    let created = http.post_json("/promises", body).await;
    assert_eq!(http.get("/promises/callback/x").await.body, created.body);
    let done = http
        .send(reqwest::Method::PATCH, "/promises/callback/x", &[], Some(r#"{"state":"RESOLVED"}"#))
        .await;
    assert_eq!((done.status, &done.body["id"]), (201, &json!("callback/x")), "{done:?}");

    // Completing the leaf turns the callback into a resume task with root and leaf.
    let resolved = http
        .send(reqwest::Method::PATCH, "/promises/leaf/1", &[], Some(r#"{"state":"RESOLVED"}"#))
        .await;
    assert_eq!(resolved.status, 201, "{resolved:?}");
    let claimed = http.get("/tasks/claim/__resume:root:leaf/1/1").await;
    assert_eq!(claimed.status, 201, "{claimed:?}");
    assert_eq!(claimed.body["type"], "resume");
    assert_eq!(claimed.body["promises"]["root"]["id"], "root");
    assert_eq!(claimed.body["promises"]["leaf"]["id"], "leaf/1");
    assert_eq!(claimed.body["promises"]["leaf"]["data"]["state"], "RESOLVED");
    // On a completed promise the callback is not made: 200 and the promise.
    let late = json!({"rootPromiseId": "other", "recv": "nats://w"});
    let late = http.post_json("/promises/callback/leaf/1", late).await;
    assert_eq!(late.status, 200, "{late:?}");
    assert_eq!(late.body["callback"], Value::Null);
    assert_eq!(late.body["promise"]["state"], "RESOLVED");
    h.stop().await;
}

#[tokio::test]
async fn schedules_create_read_search_delete() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let body = json!({"id": "nightly/a", "desc": "d", "cron": "0 3 * * *", "tags": {"team": "x"},
                      "promiseId": "run.{{.timestamp}}", "promiseTimeout": 60_000});
    let created = http.post("/schedules", &[("Idempotency-Key", "k")], &body.to_string()).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["id"], "nightly/a");
    assert_eq!(created.body["desc"], "d");
    assert!(created.body["nextRunTime"].as_i64().is_some_and(|t| t > T0), "{created:?}");
    let replay = http.post("/schedules", &[("Idempotency-Key", "k")], &body.to_string()).await;
    assert_eq!((replay.status, &replay.body), (200, &created.body));
    assert_error(&http.post("/schedules", &[], &body.to_string()).await, 40901);
    assert_eq!(http.get("/schedules/nightly/a").await.body, created.body);
    assert_eq!(http.get("/schedules/nightly%2Fa").await.body, created.body);

    for i in 0..3 {
        let body = json!({"id": format!("s{i}"), "cron": "@hourly", "promiseId": "p", "promiseTimeout": 1});
        assert_eq!(http.post_json("/schedules", body).await.status, 201);
    }
    let tagged = http.get("/schedules?id=*&tags[team]=x").await;
    assert_eq!(tagged.status, 200, "{tagged:?}");
    let ids: Vec<&str> = tagged.body["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["nightly/a"]);
    let mut page = http.get("/schedules?id=s*&limit=2").await;
    let mut seen = Vec::new();
    loop {
        assert_eq!(page.status, 200, "{page:?}");
        let schedules = page.body["schedules"].as_array().unwrap();
        assert!(schedules.len() <= 2);
        seen.extend(schedules.iter().filter_map(|s| s["id"].as_str().map(str::to_owned)));
        let Some(cursor) = page.body["cursor"].as_str() else { break };
        page = http.get(&format!("/schedules?cursor={cursor}")).await;
    }
    seen.sort();
    assert_eq!(seen, ["s0", "s1", "s2"]);

    let deleted = http.delete("/schedules/nightly/a").await;
    assert_eq!((deleted.status, deleted.body.clone()), (204, Value::Null), "{deleted:?}");
    assert_error(&http.delete("/schedules/nightly/a").await, 40401);
    assert_error(&http.get("/schedules/nightly/a").await, 40401);

    let bad = json!({"id": "b", "cron": "every tuesday", "promiseId": "p", "promiseTimeout": 1});
    assert_error(&http.post_json("/schedules", bad).await, 40000);
    let bad = json!({"id": "b", "cron": "@hourly", "promiseId": "p", "promiseTimeout": "soon"});
    assert_error(&http.post_json("/schedules", bad).await, 40000);
    assert_error(&http.post("/schedules", &[], "{").await, 40000);
    assert_error(&http.get("/schedules?id=*&limit=ten").await, 40000);
    assert_error(&http.get("/schedules?id=*&limit=101").await, 40000);
    assert_error(&http.get("/schedules?cursor=garbage").await, 40000);
    assert_error(&http.send(reqwest::Method::PATCH, "/schedules/s0", &[], Some("{}")).await, 40500);
    h.stop().await;
}

#[tokio::test]
async fn locks_acquire_heartbeat_release() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let acquire = json!({"resourceId": "r", "executionId": "e1", "processId": "p1", "ttl": 10_000});
    let acquired = http.post_json("/locks/acquire", acquire).await;
    assert_eq!(acquired.status, 201, "{acquired:?}");
    assert_eq!(acquired.body["resourceId"], "r");
    assert_eq!(acquired.body["expiresAt"], T0 + 10_000);
    let other = json!({"resourceId": "r", "executionId": "e2", "processId": "p2", "ttl": 10_000});
    assert_error(&http.post_json("/locks/acquire", other).await, 40304);
    let beat = http.post_json("/locks/heartbeat", json!({"processId": "p1"})).await;
    assert_eq!((beat.status, beat.body.clone()), (200, json!({"locksAffected": 1})));
    let release = json!({"resourceId": "r", "executionId": "e1"});
    let released = http.post_json("/locks/release", release.clone()).await;
    assert_eq!((released.status, released.body.clone()), (204, Value::Null), "{released:?}");
    assert_error(&http.post_json("/locks/release", release).await, 40402);

    let no_ttl = json!({"resourceId": "r", "executionId": "e1", "processId": "p1"});
    assert_error(&http.post_json("/locks/acquire", no_ttl).await, 40000);
    let bad_ttl = json!({"resourceId": "r", "executionId": "e1", "processId": "p1", "ttl": "x"});
    let answer = http.post_json("/locks/acquire", bad_ttl).await;
    assert_error(&answer, 40000);
    assert!(answer.body["error"]["message"].as_str().unwrap_or("").starts_with("body.ttl"));
    assert_error(&http.post("/locks/heartbeat", &[], "{}").await, 40000);
    assert_error(&http.get("/locks/acquire").await, 40500);
    h.stop().await;
}

#[tokio::test]
async fn bad_task_input_gets_the_error_body() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    for path in [
        "/tasks/claim/__invoke:x/one",
        "/tasks/claim/1",
        "/tasks/complete/__invoke:x/99999999999999999999",
        "/tasks/drop//1",
        "/tasks/heartbeat/x/1.5",
    ] {
        let answer = http.get(path).await;
        assert_error(&answer, 40000);
        assert!(answer.body["error"]["message"].as_str().unwrap_or("").starts_with("path"));
    }
    for (path, body) in [
        ("/tasks/claim", ""),
        ("/tasks/claim", r#"{"id":"t"}"#),
        ("/tasks/claim", r#"{"id":"t","counter":1,"ttl":9223372036854775808}"#),
        ("/tasks/complete", r#"{"id":"t","counter":"1"}"#),
        ("/tasks/drop", "[1]"),
        ("/tasks/heartbeat", r#"{"processId":7}"#),
    ] {
        let answer = http.post(path, &[], body).await;
        assert_error(&answer, 40000);
        assert!(answer.body["error"]["message"].as_str().unwrap_or("").starts_with("body"));
    }
    assert_error(&http.get("/tasks/claim").await, 40500);
    h.stop().await;
}

fn steps() -> Vec<Step> {
    use reqwest::Method;
    let invoke = json!({"resonate:invoke": "nats://workers.a"});
    vec![
        step(
            "promises.createtask",
            json!({"id":"q/1","idempotencyKey":"k","timeout":T0 + 60_000,"tags":invoke,"processId":"w","ttl":5000}),
            Method::POST,
            "/promises/task",
            &[("Idempotency-Key", "k")],
            Some(
                json!({"promise":{"id":"q/1","timeout":T0 + 60_000,"tags":invoke},"task":{"processId":"w","ttl":5000}}),
            ),
        ),
        step(
            "tasks.heartbeat",
            json!({"processId":"w"}),
            Method::POST,
            "/tasks/heartbeat",
            &[],
            Some(json!({"processId":"w"})),
        ),
        step(
            "tasks.complete",
            json!({"id":"__invoke:q/1","counter":1}),
            Method::GET,
            "/tasks/complete/__invoke:q/1/1",
            &[],
            None,
        ),
        step(
            "promises.create",
            json!({"id":"q/2","timeout":T0 + 60_000,"tags":invoke}),
            Method::POST,
            "/promises",
            &[],
            Some(json!({"id":"q/2","timeout":T0 + 60_000,"tags":invoke})),
        ),
        step(
            "promises.callback",
            json!({"promiseId":"q/2","rootPromiseId":"q/1","recv":"nats://b","timeout":T0 + 60_000}),
            Method::POST,
            "/promises/callback/q/2",
            &[],
            Some(json!({"rootPromiseId":"q/1","recv":"nats://b","timeout":T0 + 60_000})),
        ),
        step(
            "promises.subscribe",
            json!({"promiseId":"q/2","id":"s","recv":"nats://b"}),
            Method::POST,
            "/promises/subscribe/q/2",
            &[],
            Some(json!({"id":"s","recv":"nats://b"})),
        ),
        step(
            "tasks.claim",
            json!({"id":"__invoke:q/2","counter":1,"processId":"__invoke:q/2/1","ttl":60_000}),
            Method::GET,
            "/tasks/claim/__invoke:q/2/1",
            &[],
            None,
        ),
        step(
            "tasks.claim",
            json!({"id":"__invoke:q/2","counter":1,"processId":"x","ttl":1}),
            Method::POST,
            "/tasks/claim",
            &[],
            Some(json!({"id":"__invoke:q/2","counter":1,"processId":"x","ttl":1})),
        ),
        step(
            "schedules.create",
            json!({"id":"sc","cron":"*/5 * * * *","promiseId":"sp.{{.timestamp}}","promiseTimeout":1000,"idempotencyKey":"i"}),
            Method::POST,
            "/schedules",
            &[("Idempotency-Key", "i")],
            Some(
                json!({"id":"sc","cron":"*/5 * * * *","promiseId":"sp.{{.timestamp}}","promiseTimeout":1000}),
            ),
        ),
        step("schedules.read", json!({"id":"sc"}), Method::GET, "/schedules/sc", &[], None),
        step(
            "schedules.search",
            json!({"id":"*","limit":5}),
            Method::GET,
            "/schedules?id=*&limit=5",
            &[],
            None,
        ),
        step("schedules.delete", json!({"id":"sc"}), Method::DELETE, "/schedules/sc", &[], None),
        step("schedules.read", json!({"id":"sc"}), Method::GET, "/schedules/sc", &[], None),
        step(
            "locks.acquire",
            json!({"resourceId":"r","executionId":"e","processId":"p","ttl":100}),
            Method::POST,
            "/locks/acquire",
            &[],
            Some(json!({"resourceId":"r","executionId":"e","processId":"p","ttl":100})),
        ),
        step(
            "locks.heartbeat",
            json!({"processId":"p"}),
            Method::POST,
            "/locks/heartbeat",
            &[],
            Some(json!({"processId":"p"})),
        ),
        step(
            "locks.release",
            json!({"resourceId":"r","executionId":"e"}),
            Method::POST,
            "/locks/release",
            &[],
            Some(json!({"resourceId":"r","executionId":"e"})),
        ),
        step(
            "locks.release",
            json!({"resourceId":"r","executionId":"e"}),
            Method::POST,
            "/locks/release",
            &[],
            Some(json!({"resourceId":"r","executionId":"e"})),
        ),
    ]
}

/// `(status, body)` of each step, over NATS or over HTTP; an error body is reduced to its code.
async fn run_steps(over_http: bool) -> Vec<(u16, Value)> {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let mut results = Vec::new();
    for (i, step) in steps().into_iter().enumerate() {
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
    assert_eq!(
        statuses,
        [201, 200, 201, 201, 201, 201, 201, 403, 201, 200, 200, 204, 404, 201, 200, 204, 404]
    );
}

#[tokio::test]
async fn requests_shaped_as_the_python_sdk_sends_them_are_accepted() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let sdk_headers = [("Strict", "False"), ("Idempotency-Key", "a1b2")];
    let recv = r#"{\"type\": \"poll\", \"data\": {\"group\": \"e2e\", \"id\": \"pid1\"}}"#;
    let body = format!(
        r#"{{"promise":{{"id":"wf","param":{{"headers":null,"data":null}},"timeout":9223372036854775807,"tags":{{"resonate:invoke":"{recv}"}}}},"task":{{"processId":"pid1","ttl":5000}}}}"#
    );
    let created = http.post("/promises/task", &sdk_headers, &body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["task"]["id"], "__invoke:wf");
    let replay = http.post("/promises/task", &sdk_headers, &body).await;
    assert_eq!(replay.status, 200, "{replay:?}");
    let keys: Vec<&String> =
        replay.body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["promise", "task"], "both keys are present: {replay:?}");

    let child = r#"{"id":"wf.1","param":{"headers":null,"data":null},"timeout":9223372036854775807,"tags":null}"#;
    assert_eq!(http.post("/promises", &sdk_headers, child).await.status, 201);
    let poll = json!({"type": "poll", "data": {"group": "e2e", "id": "pid1"}});
    let callback = json!({"id": "c0de", "promiseId": "wf.1", "rootPromiseId": "wf",
                          "timeout": i64::MAX, "recv": poll});
    let created = http.post_json("/callbacks", callback).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["callback"]["id"], "__resume:wf:wf.1");
    let subscription = json!({"id": "pid1.wf.1", "promiseId": "wf.1", "timeout": i64::MAX,
                              "recv": poll});
    let created = http.post_json("/subscriptions", subscription).await;
    assert_eq!(created.status, 201, "{created:?}");
    // `ctx.rfc(...).options(send_to=poll("e2e"))` tags the child `poll://e2e`: no cast, so any.
    let remote = r#"{"id":"wf.2","param":{"headers":null,"data":null},"timeout":9223372036854775807,"tags":{"resonate:invoke":"poll://e2e"}}"#;
    let created = http.post("/promises", &sdk_headers, remote).await;
    assert_eq!(created.status, 201, "{created:?}");
    let beat = http.post_json("/tasks/heartbeat", json!({"processId": "pid1"})).await;
    assert_eq!(beat.body, json!({"tasksAffected": 1}), "{beat:?}");
    let done = http.post_json("/tasks/complete", json!({"id": "__invoke:wf", "counter": 1})).await;
    assert_eq!(done.status, 201, "{done:?}");
    h.stop().await;
}
