//! The gateway over real HTTP and a real nats-server: single messages, batches, idempotent
//! retries, status lookups, bad input, stream configuration, and NATS going away.

#[macro_use]
mod common;

use std::time::Duration;

use common::{Db, Harness};

async fn a_message_is_stored_before_202_and_its_status_exists_at_once(db: Db) {
    let h = Harness::start(db).await;
    let (code, reply) = h.post("/ingest/message", r#"{"order_id":"123","total":100.5}"#, &[]).await;
    assert_eq!(code, 202, "{reply}");
    assert_eq!(reply["status"], "accepted");
    assert_eq!(reply["duplicate"], false);
    let id = reply["message_id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert!(reply["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(h.stream_messages("MESSAGES").await, 1);
    let (code, status) = h.get(&format!("/ingest/status/{id}")).await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["status"], "accepted");
    assert_eq!(status["entity_type"], "default");
    assert_eq!(status["source"], "http");
    assert_eq!(status["attempts"], 0);
}

async fn the_envelope_is_the_seeds_and_goes_to_the_entity_subject(db: Db) {
    let h = Harness::start(db).await;
    let (code, reply) = h
        .post("/ingest/message", r#"{"entity_type":"order","n":1}"#, &[("Source", "shop-7")])
        .await;
    assert_eq!(code, 202, "{reply}");
    let js = async_nats::jetstream::new(common::connect(&h.nats).await);
    let stream = js.get_stream("MESSAGES").await.unwrap();
    let raw = stream.get_last_raw_message_by_subject("messages.ingest.order").await.unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&raw.payload).unwrap();
    assert_eq!(envelope["message_id"], reply["message_id"]);
    assert_eq!(envelope["body"], r#"{"entity_type":"order","n":1}"#);
    assert_eq!(envelope["entity_type"], "order");
    assert_eq!(envelope["retry_count"], 0);
    assert_eq!(envelope["source"], "shop-7");
    assert!(envelope["received_at"].is_string());
    // The query names the entity type when the body does not.
    let (code, _) = h.post("/ingest/message?entity_type=invoice", "[1,2]", &[]).await;
    assert_eq!(code, 202);
    assert!(stream.get_last_raw_message_by_subject("messages.ingest.invoice").await.is_ok());
}

async fn bad_input_is_refused_with_a_named_error_and_nothing_is_stored(db: Db) {
    let h = Harness::start(db).await;
    for (path, body, needle) in [
        ("/ingest/message", "{not json", "not JSON"),
        ("/ingest/message", "", "empty"),
        ("/ingest/message", r#"{"entity_type":"a.b"}"#, "entity_type"),
        ("/ingest/message", r#"{"entity_type":7}"#, "expected a string"),
        ("/ingest/message?entity_type=x%20y", "{}", "entity_type"),
        ("/ingest/batch", "\n\n", "no messages"),
    ] {
        let (code, reply) = h.post(path, body, &[]).await;
        assert_eq!(code, 400, "{path} {body:?}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body:?}: {message}");
    }
    let long_key = "k".repeat(300);
    let (code, _) = h.post("/ingest/message", "{}", &[("Idempotency-Key", &long_key)]).await;
    assert_eq!(code, 400);
    assert_eq!(h.stream_messages("MESSAGES").await, 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM messages").await, 0);
}

async fn status_is_404_for_unknown_ids_and_400_for_malformed_ones(db: Db) {
    let h = Harness::start(db).await;
    let (code, reply) = h.get(&format!("/ingest/status/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(code, 404, "{reply}");
    let (code, reply) = h.get("/ingest/status/not-a-uuid").await;
    assert_eq!(code, 400, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("not a UUID"));
}

async fn a_retried_request_with_an_idempotency_key_returns_the_same_id_and_stores_nothing_twice(
    db: Db,
) {
    let h = Harness::start(db).await;
    let key = [("Idempotency-Key", "order-123-v1")];
    let (code, first) = h.post("/ingest/message", r#"{"order_id":"123"}"#, &key).await;
    assert_eq!(code, 202, "{first}");
    let (code, second) = h.post("/ingest/message", r#"{"order_id":"123"}"#, &key).await;
    assert_eq!(code, 202, "{second}");
    assert_eq!(first["message_id"], second["message_id"]);
    assert_eq!(second["duplicate"], true);
    assert_eq!(h.stream_messages("MESSAGES").await, 1);
    // A UUID key is the message id itself.
    let given = uuid::Uuid::now_v7().to_string();
    let (_, reply) = h.post("/ingest/message", "{}", &[("Idempotency-Key", &given)]).await;
    assert_eq!(reply["message_id"], given.as_str());
}

async fn a_batch_stores_the_good_lines_and_reports_the_bad_ones_by_number(db: Db) {
    let h = Harness::start(db).await;
    let body = "{\"order_id\":\"1\",\"total\":10}\nnot json\n\n{\"order_id\":\"2\",\"entity_type\":\"order\"}\n{\"entity_type\":\"bad subject\"}\n";
    let (code, reply) = h.post("/ingest/batch", body, &[]).await;
    assert_eq!(code, 202, "{reply}");
    assert_eq!(reply["status"], "partial");
    assert_eq!(reply["processed"], 4);
    assert_eq!(reply["inserted"], 2);
    assert_eq!(reply["failed"], 2);
    let lines: Vec<u64> =
        reply["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 5]);
    assert!(reply["duration_ms"].is_u64());
    let stored = reply["messages"].as_array().unwrap();
    assert_eq!(stored[0]["line"], 1);
    assert_eq!(stored[1]["line"], 4);
    assert_eq!(h.stream_messages("MESSAGES").await, 2);
    for m in stored {
        let (code, _) =
            h.get(&format!("/ingest/status/{}", m["message_id"].as_str().unwrap())).await;
        assert_eq!(code, 200);
    }
    // Every line bad: 400, nothing stored.
    let (code, reply) = h.post("/ingest/batch", "x\ny\n", &[]).await;
    assert_eq!(code, 400, "{reply}");
    assert_eq!(reply["status"], "failed");
    // A retried batch with a key stores nothing twice.
    let key = [("Idempotency-Key", "batch-9")];
    let many: String = (0..500).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let (code, first) = h.post("/ingest/batch", &many, &key).await;
    assert_eq!(code, 202, "{first}");
    assert_eq!(first["inserted"], 500);
    let (_, again) = h.post("/ingest/batch", &many, &key).await;
    assert_eq!(again["duplicates"], 500);
    assert_eq!(first["messages"], again["messages"]);
    assert_eq!(h.stream_messages("MESSAGES").await, 502);
}

async fn a_repeated_batch_counts_its_lines_as_duplicates_not_as_inserted(db: Db) {
    let h = Harness::start(db).await;
    let key = [("Idempotency-Key", "batch-twice")];
    let body = "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n";
    let (code, first) = h.post("/ingest/batch", body, &key).await;
    assert_eq!(code, 202, "{first}");
    assert_eq!((first["inserted"].as_u64(), first["duplicates"].as_u64()), (Some(3), Some(0)));
    // The same batch again: every line was stored before.
    let (code, again) = h.post("/ingest/batch", body, &key).await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(again["status"], "success", "{again}");
    assert_eq!(again["processed"], 3, "{again}");
    assert_eq!(again["inserted"], 0, "a replayed line is not inserted: {again}");
    assert_eq!(again["duplicates"], 3, "{again}");
    assert_eq!(again["failed"], 0, "{again}");
    assert_eq!(first["messages"], again["messages"]);
    // One line more: only that one is new.
    let longer = format!("{body}{{\"i\":4}}\n");
    let (code, more) = h.post("/ingest/batch", &longer, &key).await;
    assert_eq!(code, 202, "{more}");
    assert_eq!((more["inserted"].as_u64(), more["duplicates"].as_u64()), (Some(1), Some(3)));
    assert_eq!(h.stream_messages("MESSAGES").await, 4);
}

async fn the_same_idempotency_key_with_another_message_is_refused_with_422_also_after_a_restart(
    db: Db,
) {
    let mut h = Harness::start(db).await;
    let key = [("Idempotency-Key", "order-7")];
    let (code, first) = h.post("/ingest/message", r#"{"order_id":"7","total":10}"#, &key).await;
    assert_eq!(code, 202, "{first}");
    let id = first["message_id"].as_str().unwrap().to_owned();
    let refused = |reply: &serde_json::Value| {
        assert_eq!(reply["error"]["code"], 42200, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains("Idempotency-Key") && message.contains(&id), "{message}");
    };
    // Another body under the same key.
    let (code, other) = h.post("/ingest/message", r#"{"order_id":"7","total":99}"#, &key).await;
    assert_eq!(code, 422, "{other}");
    refused(&other);
    // The same body under another entity type.
    let (code, other) =
        h.post("/ingest/message?entity_type=refund", r#"{"order_id":"7","total":10}"#, &key).await;
    assert_eq!(code, 422, "{other}");
    refused(&other);
    // The same message encoded otherwise (key order, spacing) is a replay.
    let (code, again) =
        h.post("/ingest/message", "{ \"total\": 10,\n \"order_id\": \"7\" }", &key).await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(again["message_id"], id.as_str());
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["stream_sequence"], first["stream_sequence"]);
    assert_eq!(h.stream_messages("MESSAGES").await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM messages").await, 1);

    // A restarted gateway knows the key from its file.
    h.restart_gateway().await;
    let (code, other) = h.post("/ingest/message", r#"{"order_id":"7","total":99}"#, &key).await;
    assert_eq!(code, 422, "{other}");
    refused(&other);
    let (code, again) = h.post("/ingest/message", r#"{"order_id":"7","total":10}"#, &key).await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(h.stream_messages("MESSAGES").await, 1);
    let (_, status) = h.get(&format!("/ingest/status/{id}")).await;
    assert_eq!(status["entity_type"], "default", "the first message's row stands: {status}");
}

async fn a_batch_line_whose_key_was_used_for_another_message_gets_its_own_422_error(db: Db) {
    let h = Harness::start(db).await;
    let key = [("Idempotency-Key", "batch-k")];
    let (code, first) = h.post("/ingest/batch", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", &key).await;
    assert_eq!(code, 202, "{first}");
    // Line 2 changed: refused on its own; lines 1 and 3 are replays.
    let (code, mixed) = h.post("/ingest/batch", "{\"a\":1}\n{\"a\":20}\n{\"a\":3}\n", &key).await;
    assert_eq!(code, 202, "{mixed}");
    assert_eq!(mixed["status"], "partial");
    assert_eq!((mixed["inserted"].as_u64(), mixed["duplicates"].as_u64()), (Some(0), Some(2)));
    assert_eq!(mixed["failed"], 1);
    let errors = mixed["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{mixed}");
    assert_eq!(errors[0]["line"], 2);
    let error = errors[0]["error"].as_str().unwrap();
    assert!(error.contains("Idempotency-Key conflict"), "{error}");
    assert!(error.contains(first["messages"][1]["message_id"].as_str().unwrap()), "{error}");
    let stored: Vec<u64> =
        mixed["messages"].as_array().unwrap().iter().map(|m| m["line"].as_u64().unwrap()).collect();
    assert_eq!(stored, [1, 3]);
    // Every line changed: 422 for the whole batch.
    let (code, all) = h.post("/ingest/batch", "{\"a\":10}\n{\"a\":20}\n", &key).await;
    assert_eq!(code, 422, "{all}");
    assert_eq!(all["status"], "failed");
    assert_eq!(all["failed"], 2);
    assert_eq!(h.stream_messages("MESSAGES").await, 3);
    assert_eq!(h.count("SELECT COUNT(*) FROM messages").await, 3);
}

async fn health_and_ready_answer(db: Db) {
    let h = Harness::start(db).await;
    let (code, health) = h.get("/health").await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "natsapi-ingest");
    assert!(health["version"].is_string());
    assert_eq!(health["checks"], serde_json::json!({"nats": "ok", "store": "ok"}));
    let (code, ready) = h.get("/ready").await;
    assert_eq!(code, 200, "{ready}");
    assert_eq!(ready["checks"], health["checks"]);
}

#[tokio::test]
async fn an_existing_stream_with_another_configuration_is_reported() {
    let nats = natsapi_testkit::NatsServer::builder().jetstream(true).start().unwrap();
    let client = common::connect(&nats).await;
    let js = async_nats::jetstream::new(client.clone());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "MESSAGES".into(),
        subjects: vec!["messages.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let clock = std::sync::Arc::new(natsapi_core::SystemClock);
    let store = natsapi_store::Store::open(&natsapi_store::StoreConfig::memory(), clock).unwrap();
    let err = natsapi_ingest::gateway::Gateway::start(
        client,
        store,
        Default::default(),
        Default::default(),
        Default::default(),
        std::sync::Arc::new(natsapi_core::SystemClock),
    )
    .await
    .err()
    .expect("a mismatched stream is an error");
    let text = err.to_string();
    assert!(text.contains("stream MESSAGES exists with another configuration"), "{text}");
    assert!(text.contains("subjects"), "{text}");
    assert!(text.contains("retention"), "{text}");
}

async fn while_nats_is_down_clients_get_503_and_no_202_is_given_for_a_lost_message(db: Db) {
    let mut h = Harness::start(db).await;
    let (code, _) = h.post("/ingest/message", r#"{"before":true}"#, &[]).await;
    assert_eq!(code, 202);
    h.nats.stop();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..20 {
        let (code, reply) = h.post("/ingest/message", &format!("{{\"i\":{i}}}"), &[]).await;
        match code {
            202 => accepted.push(reply["message_id"].as_str().unwrap().to_owned()),
            503 => refused += 1,
            other => panic!("unexpected {other}: {reply}"),
        }
    }
    assert!(refused > 0, "NATS is down, yet every request was accepted");
    for path in ["/ready", "/health"] {
        let (code, health) = h.get(path).await;
        assert_eq!(code, 503, "{path}: {health}");
        assert_eq!(health["status"], "unavailable");
        assert_ne!(health["checks"]["nats"], "ok", "{health}");
        assert_eq!(health["checks"]["store"], "ok", "{health}");
    }
    let (code, batch) = h.post("/ingest/batch", "{}\n{}\n", &[]).await;
    assert!(code == 503 || code == 202, "{batch}");
    h.nats.restart().unwrap();
    // Recovery: accepted again once the client has reconnected.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (code, _) = h.post("/ingest/message", r#"{"after":true}"#, &[]).await;
        if code == 202 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never recovered: {code}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every message that was given a 202 is in the stream (which survived the restart).
    let js = async_nats::jetstream::new(common::connect(&h.nats).await);
    let stream = js.get_stream("MESSAGES").await.unwrap();
    let mut found = 0;
    let count = stream.get_info().await.unwrap().state.messages;
    for seq in 1..=count + 5 {
        if let Ok(raw) = stream.get_raw_message(seq).await {
            let envelope: serde_json::Value = serde_json::from_slice(&raw.payload).unwrap();
            if accepted.iter().any(|id| envelope["message_id"] == id.as_str()) {
                found += 1;
            }
        }
    }
    assert_eq!(found, accepted.len(), "a 202 was given for a message JetStream does not have");
}

on_both!(
    a_message_is_stored_before_202_and_its_status_exists_at_once,
    the_envelope_is_the_seeds_and_goes_to_the_entity_subject,
    bad_input_is_refused_with_a_named_error_and_nothing_is_stored,
    status_is_404_for_unknown_ids_and_400_for_malformed_ones,
    a_retried_request_with_an_idempotency_key_returns_the_same_id_and_stores_nothing_twice,
    a_batch_stores_the_good_lines_and_reports_the_bad_ones_by_number,
    a_repeated_batch_counts_its_lines_as_duplicates_not_as_inserted,
    the_same_idempotency_key_with_another_message_is_refused_with_422_also_after_a_restart,
    a_batch_line_whose_key_was_used_for_another_message_gets_its_own_422_error,
    health_and_ready_answer,
    while_nats_is_down_clients_get_503_and_no_202_is_given_for_a_lost_message,
);
