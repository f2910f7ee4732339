//! The promise API over real NATS request-reply: the seed's examples, bad input, request ids,
//! trace headers.

mod common;

use async_nats::HeaderMap;
use common::{Harness, T0, assert_error};
use serde_json::json;

#[tokio::test]
async fn seed_examples_work_end_to_end() {
    let h = Harness::start().await;
    let created = h
        .client
        .call_with(
            "promises.create",
            Some("req-123"),
            json!({"id":"my-promise","timeout":3600000,"param":{"headers":{},"data":null},
                   "tags":{"environment":"production"}}),
            HeaderMap::new(),
        )
        .await
        .unwrap()
        .0;
    assert!(created.success, "{created:?}");
    assert_eq!(created.status, Some(201));
    assert_eq!(created.request_id.as_deref(), Some("req-123"));
    assert_eq!(
        created.response.unwrap(),
        json!({"id":"my-promise","state":"PENDING","param":{},"value":{},
               "timeout": T0 + 3_600_000,"tags":{"environment":"production"},"createdOn":T0})
    );

    let read = h.call("promises.read", json!({"id":"my-promise"})).await;
    assert_eq!(read.status, Some(200));
    assert_eq!(read.response.as_ref().unwrap()["state"], "PENDING");
    assert!(read.request_id.as_deref().is_some_and(|id| !id.is_empty()), "generated id");

    let search = h
        .call(
            "promises.search",
            json!({"id":"my-promise-*","states":["PENDING","RESOLVED"],"tags":{},"limit":10}),
        )
        .await;
    assert_eq!(search.status, Some(200));
    assert_eq!(search.response.unwrap(), json!({"promises":[],"cursor":null}));
    let search = h.call("promises.search", json!({"id":"my-*","states":["pending"]})).await;
    assert_eq!(search.response.unwrap()["promises"][0]["id"], "my-promise");

    let done = h
        .call(
            "promises.complete",
            json!({"id":"my-promise","state":"RESOLVED",
                   "value":{"headers":{"content-type":"application/json"},
                            "data":"eyJyZXN1bHQiOiAic3VjY2VzcyJ9"}}),
        )
        .await;
    assert_eq!(done.status, Some(201), "{done:?}");
    let promise = done.response.unwrap();
    assert_eq!(promise["state"], "RESOLVED");
    assert_eq!(promise["value"]["data"], "eyJyZXN1bHQiOiAic3VjY2VzcyJ9");
    assert_eq!(promise["completedOn"], T0);

    let again = h.call("promises.complete", json!({"id":"my-promise","state":"REJECTED"})).await;
    assert_error(&again, 403, "already resolved");
    let dup = h.call("promises.create", json!({"id":"my-promise","timeout":1})).await;
    assert_error(&dup, 409, "already exists");
    let missing = h.call("promises.read", json!({"id":"nope"})).await;
    assert_error(&missing, 404, "not found");
    h.stop().await;
}

#[tokio::test]
async fn idempotent_replays_answer_200_with_the_stored_promise() {
    let h = Harness::start().await;
    let create = json!({"id":"p","idempotencyKey":"k1","timeout":60000});
    assert_eq!(h.call("promises.create", create.clone()).await.status, Some(201));
    let replay = h.call("promises.create", create).await;
    assert_eq!(replay.status, Some(200));
    assert_eq!(replay.response.unwrap()["idempotencyKeyForCreate"], "k1");
    let complete = json!({"id":"p","idempotencyKey":"c1","state":"REJECTED_CANCELED"});
    assert_eq!(h.call("promises.complete", complete.clone()).await.status, Some(201));
    assert_eq!(h.call("promises.complete", complete).await.status, Some(200));
    h.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_400_that_names_the_problem() {
    let h = Harness::start().await;
    let raw = |bytes: &'static [u8]| {
        let client = h.client.clone();
        async move {
            let message = client.request_bytes(bytes.into(), HeaderMap::new()).await.unwrap();
            serde_json::from_slice::<natsapi_client::Reply>(&message.payload).unwrap()
        }
    };
    assert_error(&raw(b"{not json").await, 400, "invalid request envelope");
    assert_error(&raw(b"\xff\xfe").await, 400, "UTF-8");
    assert_error(&raw(b"").await, 400, "empty");
    assert_error(&raw(br#"{"payload":{}}"#).await, 400, "operation");
    assert_error(&raw(br#"{"operation":"promises.read"}"#).await, 400, "payload is required");
    assert_error(&h.call("promises.explode", json!({})).await, 400, "unknown operation");
    assert_error(&h.call("promises.read", json!({})).await, 400, "missing field `id`");
    assert_error(&h.call("promises.read", json!({"id":7})).await, 400, "payload.id");
    assert_error(
        &h.call("promises.create", json!({"id":"x","timeout":"soon"})).await,
        400,
        "payload.timeout",
    );
    assert_error(
        &h.call("promises.create", json!({"id":"x","timeout":18446744073709551615u64})).await,
        400,
        "payload.timeout",
    );
    assert_error(&h.call("promises.create", json!({"id":"x","timeout":-1})).await, 400, "negative");
    assert_error(
        &h.call("promises.create", json!({"id":"x","param":{"data":"%%%"}})).await,
        400,
        "base64",
    );
    assert_error(
        &h.call("promises.complete", json!({"id":"x","state":"DONE"})).await,
        400,
        "payload.state",
    );
    assert_error(
        &h.call("promises.complete", json!({"id":"x","state":"PENDING"})).await,
        400,
        "state must be",
    );
    assert_error(&h.call("promises.search", json!({"id":""})).await, 400, "id is required");
    assert_error(&h.call("promises.search", json!({"id":"*","limit":101})).await, 400, "limit");
    assert_error(&h.call("promises.search", json!({"cursor":"garbage!"})).await, 400, "cursor");
    let big = "x".repeat(70 * 1024);
    assert_error(&h.call("promises.read", json!({"id": big})).await, 400, "over the maximum");
    // The server is still answering after all that.
    assert_eq!(
        h.call("promises.create", json!({"id":"ok","timeout":1000})).await.status,
        Some(201)
    );
    h.stop().await;
}

#[tokio::test]
async fn trace_context_comes_back_in_reply_headers() {
    let h = Harness::start().await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", traceparent);
    headers.insert("tracestate", "vendor=1");
    let (_, reply_headers) =
        h.client.call_with("promises.read", None, json!({"id":"x"}), headers).await.unwrap();
    let reply_headers = reply_headers.expect("reply headers");
    assert_eq!(reply_headers.get("traceparent").unwrap().as_str(), traceparent);
    assert_eq!(reply_headers.get("tracestate").unwrap().as_str(), "vendor=1");

    // The same context may travel in the envelope's metadata instead.
    let body = format!(
        r#"{{"operation":"promises.read","metadata":{{"traceparent":"{traceparent}"}},"payload":{{"id":"x"}}}}"#
    );
    let message = h.client.request_bytes(body.into(), HeaderMap::new()).await.unwrap();
    assert_eq!(message.headers.unwrap().get("traceparent").unwrap().as_str(), traceparent);
    h.stop().await;
}

#[tokio::test]
async fn unsafe_trace_state_and_odd_envelopes_still_get_replies() {
    let h = Harness::start().await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let body = format!(
        r#"{{"operation":"promises.read","metadata":{{"traceparent":"{traceparent}","tracestate":"a=b\r\nX: y"}},"payload":{{"id":"x"}}}}"#
    );
    let message = h.client.request_bytes(body.into(), HeaderMap::new()).await.unwrap();
    let headers = message.headers.unwrap();
    assert_eq!(headers.get("traceparent").unwrap().as_str(), traceparent);
    assert!(headers.get("tracestate").is_none(), "a CR/LF tracestate is not passed on");
    let reply: natsapi_client::Reply = serde_json::from_slice(&message.payload).unwrap();
    assert_error(&reply, 404, "not found");

    let array = br#"["promises.read",null,null,{"id":"x"}]"#;
    let message = h.client.request_bytes(array.as_slice().into(), HeaderMap::new()).await.unwrap();
    let reply: natsapi_client::Reply = serde_json::from_slice(&message.payload).unwrap();
    assert_error(&reply, 400, "JSON object");

    let long_id = "r".repeat(300);
    let reply = h
        .client
        .call_with("promises.read", Some(&long_id), json!({"id":"x"}), HeaderMap::new())
        .await
        .unwrap()
        .0;
    assert_error(&reply, 400, "requestId");
    h.stop().await;
}

/// Resonate requires a promise's `timeout`: a create without one (which would time out the
/// moment it was made) is a 400 naming the field, over NATS and HTTP, and stores nothing.
#[tokio::test]
async fn a_create_without_a_timeout_is_a_400_naming_it() {
    let h = Harness::start().await;
    let http = common::http::Http::new(&h);
    let no_timeout = json!({"id": "p", "param": {"data": "aGk="}});
    assert_error(&h.call("promises.create", no_timeout.clone()).await, 400, "payload.timeout");
    assert_error(
        &h.call("promises.create", json!({"id": "p", "timeout": null})).await,
        400,
        "payload.timeout: missing field",
    );
    let task = json!({"id": "p", "processId": "w1", "tags": {"resonate:invoke": "default"}});
    assert_error(&h.call("promises.createtask", task).await, 400, "payload.timeout");
    let answer = http.post_json("/promises", no_timeout).await;
    common::http::assert_error(&answer, 40000);
    assert!(answer.body["error"]["message"].as_str().unwrap().starts_with("body.timeout: "));
    let body = json!({"promise": {"id": "p"}, "task": {"processId": "w1"}});
    let answer = http.post_json("/promises/task", body).await;
    common::http::assert_error(&answer, 40000);
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("body.promise.timeout: "), "{message}");
    assert_error(&h.call("promises.read", json!({"id": "p"})).await, 404, "not found");

    // The task's deadline may come as `taskTimeout` (the NATS server's name for it).
    let task = json!({"id": "t", "processId": "w1", "taskTimeout": 60_000});
    assert_eq!(h.call("promises.createtask", task).await.status, Some(201));
    // A schedule's `promiseTimeout` is required the same way.
    let schedule = json!({"id": "s", "cron": "@daily", "promiseId": "s.{{.timestamp}}"});
    assert_error(&h.call("schedules.create", schedule).await, 400, "promiseTimeout");
    h.stop().await;
}

/// A search request may send its cursor with the fields of the search it came from, but not
/// with fields that say something else: following either silently would page through a search
/// the client did not ask for.
#[tokio::test]
async fn a_cursor_with_fields_that_contradict_it_is_a_400_naming_them() {
    let h = Harness::start().await;
    let http = common::http::Http::new(&h);
    for i in 0..3 {
        let create = json!({"id": format!("c{i}"), "timeout": 60_000, "tags": {"g": "1"}});
        assert_eq!(h.call("promises.create", create).await.status, Some(201));
    }
    let first = json!({"id": "c*", "states": ["PENDING"], "tags": {"g": "1"}, "limit": 1});
    let page = h.call("promises.search", first.clone()).await.response.unwrap();
    let cursor = page["cursor"].as_str().unwrap().to_owned();

    // Alone, or with every field as the cursor has it (state names in any case): the next page.
    let mut same = first.clone();
    same["states"] = json!(["pending"]);
    same["cursor"] = json!(cursor);
    for payload in [json!({"cursor": cursor}), same] {
        let page = h.call("promises.search", payload).await.response.unwrap();
        assert_eq!(page["promises"][0]["id"], "c1");
    }
    let path = format!("/promises?id=c*&state=pending&tags[g]=1&limit=1&cursor={cursor}");
    assert_eq!(http.get(&path).await.body["promises"][0]["id"], "c1");

    let conflicting = |field: &str, value: serde_json::Value| {
        let mut payload = json!({"cursor": cursor});
        payload[field] = value;
        h.call("promises.search", payload)
    };
    assert_error(&conflicting("id", json!("d*")).await, 400, "id \"d*\" (the cursor's: \"c*\")");
    assert_error(
        &conflicting("states", json!(["RESOLVED"])).await,
        400,
        "states [RESOLVED] (the cursor's: [PENDING])",
    );
    assert_error(&conflicting("tags", json!({})).await, 400, "tags \"{}\" (the cursor's:");
    assert_error(&conflicting("limit", json!(5)).await, 400, "limit 5 (the cursor's: 1)");
    let both = json!({"cursor": cursor, "id": "d*", "limit": 5});
    let reply = h.call("promises.search", both).await;
    assert_error(&reply, 400, "id \"d*\" (the cursor's: \"c*\"); limit 5 (the cursor's: 1)");
    let answer = http.get(&format!("/promises?id=d*&cursor={cursor}")).await;
    common::http::assert_error(&answer, 40000);
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("id \"d*\""));

    // Schedules the same way.
    for i in 0..2 {
        let create = json!({"id": format!("s{i}"), "cron": "@daily", "promiseId": "p{{.timestamp}}",
                            "promiseTimeout": 60_000});
        assert_eq!(h.call("schedules.create", create).await.status, Some(201));
    }
    let page = h.call("schedules.search", json!({"id": "s*", "limit": 1})).await.response.unwrap();
    let cursor = page["cursor"].as_str().unwrap();
    let same = json!({"id": "s*", "limit": 1, "cursor": cursor});
    let page = h.call("schedules.search", same).await.response.unwrap();
    assert_eq!(page["schedules"][0]["id"], "s0");
    let other = json!({"id": "s*", "limit": 2, "cursor": cursor});
    assert_error(&h.call("schedules.search", other).await, 400, "limit 2 (the cursor's: 1)");
    let tagged = json!({"tags": {"a": "b"}, "cursor": cursor});
    assert_error(&h.call("schedules.search", tagged).await, 400, "tags");
    let answer = http.get(&format!("/schedules?id=t*&cursor={cursor}")).await;
    common::http::assert_error(&answer, 40000);
    h.stop().await;
}
