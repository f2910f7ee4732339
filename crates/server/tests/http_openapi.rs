//! `GET /openapi.json`: an OpenAPI 3.1 document listing every route the router serves, with
//! OpenAPI path keys, and resource schemas whose property names are exactly the keys of real
//! responses (so the documentation types cannot drift from what the server writes).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Harness;
use common::http::{Answer, Http};
use serde_json::{Value, json};

/// Every route the router serves, as the document names it, with its methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/health", &["get"]),
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
    ("/promises", &["get", "post"]),
    ("/promises/{id}", &["get", "patch"]),
    ("/promises/task", &["get", "post", "patch"]),
    ("/promises/callback/{id}", &["get", "post", "patch"]),
    ("/promises/subscribe/{id}", &["get", "post", "patch"]),
    ("/callbacks", &["post"]),
    ("/subscriptions", &["post"]),
    ("/tasks/claim", &["post"]),
    ("/tasks/complete", &["post"]),
    ("/tasks/drop", &["post"]),
    ("/tasks/heartbeat", &["post"]),
    ("/tasks/claim/{id}/{counter}", &["get"]),
    ("/tasks/complete/{id}/{counter}", &["get"]),
    ("/tasks/drop/{id}/{counter}", &["get"]),
    ("/tasks/heartbeat/{id}/{counter}", &["get"]),
    ("/schedules", &["get", "post"]),
    ("/schedules/{id}", &["get", "delete"]),
    ("/locks/acquire", &["post"]),
    ("/locks/release", &["post"]),
    ("/locks/heartbeat", &["post"]),
    ("/poll/{group}/{id}", &["get"]),
];

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The document, fetched as a client would.
async fn fetch_document(http: &Http) -> Value {
    let response = http.client.get(format!("{}/openapi.json", http.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap();
    assert_eq!(content_type, "application/json");
    serde_json::from_str(&response.text().await.unwrap()).expect("the document is JSON")
}

#[tokio::test]
async fn the_document_lists_every_route_with_openapi_paths() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let doc = fetch_document(&http).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "natsapi");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = ROUTES.iter().map(|(path, _)| *path).collect();
    assert_eq!(documented, expected);
    for key in paths.keys() {
        assert!(!key.contains("{*"), "a wildcard is left in {key}");
    }
    for (path, methods) in ROUTES {
        let item = paths[*path].as_object().unwrap();
        let have: BTreeSet<&str> =
            METHODS.iter().copied().filter(|m| item.contains_key(*m)).collect();
        assert_eq!(have, methods.iter().copied().collect(), "{path}");
    }
    let ids: Vec<&str> = ROUTES
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(move |m| &paths[*path][*m]))
        .map(|op| op["operationId"].as_str().expect("every operation has an id"))
        .collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "duplicate operationId");

    // Credentials, when configured, guard every route but /health and /metrics.
    for (path, methods) in ROUTES {
        for method in *methods {
            let operation = &paths[*path][*method];
            let open = matches!(*path, "/health" | "/metrics");
            assert_eq!(operation["responses"].get("401").is_none(), open, "{method} {path}");
            assert_eq!(operation["security"].is_null(), open, "{method} {path}");
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    h.stop().await;
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    for (path, methods) in ROUTES {
        if path.starts_with("/poll/") {
            continue; // a stream that stays open; tests/poll.rs covers it
        }
        let concrete = path.replace("{id}", "x").replace("{counter}", "1");
        for method in *methods {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request =
                http.client.request(method.clone(), format!("{}{concrete}", http.base));
            if method != reqwest::Method::GET {
                request = request.header("content-type", "application/json").body("{}");
            }
            let text = request.send().await.unwrap().text().await.unwrap();
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let fallback = answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no route for") || m.contains("does not allow"));
            assert!(!fallback, "{method} {concrete} is not served: {text}");
        }
    }
    h.stop().await;
}

/// The property names of the component schema `name`.
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has properties: {schema}"))
        .keys()
        .cloned()
        .collect()
}

/// The keys of the JSON objects `values`, together.
fn keys<'a>(values: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    values
        .into_iter()
        .flat_map(|v| v.as_object().unwrap_or_else(|| panic!("an object: {v}")).keys().cloned())
        .collect()
}

/// Asserts the schema `name` has exactly the keys of the `samples`.
fn assert_schema<'a>(doc: &Value, name: &str, samples: impl IntoIterator<Item = &'a Value>) {
    assert_eq!(properties(doc, name), keys(samples), "schema {name}");
}

/// The answer, checked for its status.
fn expect(answer: Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{answer:?}");
    answer.body
}

#[tokio::test]
async fn resource_schemas_have_the_keys_of_real_responses() {
    let h = Harness::start().await;
    let http = Http::new(&h);
    let doc = fetch_document(&http).await;
    let far = common::T0 + 3_600_000;

    // A promise with every optional field: keys, tags, a completed value.
    let create = json!({"id":"doc-p","timeout":far,"tags":{"a":"b"},
        "param":{"headers":{"h":"v"},"data":"aGk="}});
    let created = expect(
        http.post("/promises", &[("Idempotency-Key", "c1")], &create.to_string()).await,
        201,
    );
    let complete = json!({"state":"RESOLVED","value":{"headers":{"h":"v"},"data":"aGk="}});
    let completed = expect(
        http.patch("/promises/doc-p", &[("Idempotency-Key", "d1")], &complete.to_string()).await,
        201,
    );
    assert_schema(&doc, "Promise", [&created, &completed]);
    assert_schema(&doc, "PromiseValue", [&completed["param"], &completed["value"]]);
    let page = expect(http.get("/promises?id=doc-*").await, 200);
    assert_schema(&doc, "PromisePage", [&page]);

    // A promise and its claimed invoke task; the task again once completed.
    let body = json!({"promise":{"id":"doc-root","timeout":far,
        "tags":{"resonate:invoke":"poll://any@doc"}},"task":{"processId":"w1","ttl":60000}});
    let both = expect(http.post_json("/promises/task", body).await, 201);
    assert_schema(&doc, "PromiseAndTask", [&both]);
    let task_id = both["task"]["id"].as_str().unwrap().to_owned();

    // A callback on a leaf; completing the leaf makes a resume task, whose claim has a leaf.
    expect(http.post_json("/promises", json!({"id":"doc-leaf","timeout":far})).await, 201);
    let callback = json!({"rootPromiseId":"doc-root","recv":"poll://any@doc"});
    let registered = expect(http.post_json("/promises/callback/doc-leaf", callback).await, 201);
    assert_schema(&doc, "CallbackResponse", [&registered]);
    assert_schema(&doc, "Callback", [&registered["callback"]]);
    let subscribe = json!({"id":"s1","recv":"poll://any@doc"});
    let subscribed = expect(http.post_json("/promises/subscribe/doc-leaf", subscribe).await, 201);
    assert_schema(&doc, "CallbackResponse", [&subscribed]);
    expect(http.patch("/promises/doc-leaf", &[], r#"{"state":"RESOLVED"}"#).await, 201);
    let resume = registered["callback"]["id"].as_str().unwrap();
    let claim = json!({"id":resume,"counter":1,"processId":"w1","ttl":60000});
    let claimed = expect(http.post_json("/tasks/claim", claim).await, 201);
    assert_eq!(claimed["type"], "resume");
    assert_schema(&doc, "ClaimResponse", [&claimed]);
    assert_schema(&doc, "ClaimedPromises", [&claimed["promises"]]);
    assert_schema(
        &doc,
        "ClaimedPromise",
        [&claimed["promises"]["root"], &claimed["promises"]["leaf"]],
    );
    let beat = expect(http.post_json("/tasks/heartbeat", json!({"processId":"w1"})).await, 200);
    assert_schema(&doc, "TasksAffected", [&beat]);
    let done =
        expect(http.post_json("/tasks/complete", json!({"id":task_id,"counter":1})).await, 201);
    assert_schema(&doc, "Task", [&both["task"], &done]);

    // A schedule with every optional field, fired once so that it has a last run.
    let schedule = json!({"id":"doc-s","desc":"d","cron":"* * * * * *","tags":{"a":"b"},
        "promiseId":"doc-s-{{.timestamp}}","promiseTimeout":60000,
        "promiseParam":{"data":"aGk="},"promiseTags":{"k":"v"}});
    let made = expect(
        http.post("/schedules", &[("Idempotency-Key", "s1")], &schedule.to_string()).await,
        201,
    );
    h.time.advance(1_000);
    let mut fired = Value::Null;
    for _ in 0..200 {
        fired = expect(http.get("/schedules/doc-s").await, 200);
        if fired.get("lastRunTime").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(fired.get("lastRunTime").is_some(), "the schedule fired: {fired}");
    assert_schema(&doc, "Schedule", [&made, &fired]);
    let schedules = expect(http.get("/schedules?id=doc-*").await, 200);
    assert_schema(&doc, "SchedulePage", [&schedules]);

    // A lock and its heartbeat.
    let acquire = json!({"resourceId":"r","executionId":"e","processId":"w1","ttl":60000});
    let lock = expect(http.post_json("/locks/acquire", acquire).await, 201);
    assert_schema(&doc, "Lock", [&lock]);
    let beat = expect(http.post_json("/locks/heartbeat", json!({"processId":"w1"})).await, 200);
    assert_schema(&doc, "LocksAffected", [&beat]);

    // The error body, and the health report.
    let missing = expect(http.get("/promises/doc-missing").await, 404);
    assert_schema(&doc, "ErrorResponse", [&missing]);
    assert_schema(&doc, "Error", [&missing["error"]]);
    assert_schema(&doc, "ErrorDetail", [&missing["error"]["details"][0]]);
    let health = expect(http.get("/health").await, 200);
    assert_schema(&doc, "Health", [&health]);
    assert_schema(&doc, "HealthChecks", [&health["checks"]]);
    h.stop().await;
}
