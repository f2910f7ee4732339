//! The worker against a real nats-server and SQLite: messages applied once, status transitions,
//! entity tables, retries, dead letters, and several workers sharing one consumer.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Db, Harness, count_in, fast_worker};
use natsapi_core::sql::{SqlTx, SqlValue};
use natsapi_ingest::IngestError;
use natsapi_ingest::handler::{ApplyError, Message, MessageHandler};
use natsapi_ingest::mapping::{Column, ColumnType, EntityMappings, EntityTable};

fn orders() -> Arc<dyn MessageHandler> {
    let column = |name: &str, kind, required| Column {
        name: name.into(),
        pointer: format!("/{name}"),
        kind,
        required,
    };
    let tables = BTreeMap::from([(
        "order".to_owned(),
        EntityTable {
            table: "orders".into(),
            columns: vec![
                column("order_id", ColumnType::Text, true),
                column("total", ColumnType::Real, false),
                column("paid", ColumnType::Boolean, false),
            ],
        },
    )]);
    Arc::new(EntityMappings::new(tables).unwrap())
}

async fn messages_are_processed_into_the_messages_table_and_the_entity_table(db: Db) {
    let h = Harness::start(db).await;
    let (_stop, _task) = h.worker(fast_worker(), vec![orders()]).await;
    let (code, reply) = h
        .post(
            "/ingest/message",
            r#"{"entity_type":"order","order_id":"A1","total":9.5,"paid":true}"#,
            &[],
        )
        .await;
    assert_eq!(code, 202);
    let id = reply["message_id"].as_str().unwrap();
    let status = h.wait_status(id, "processed").await;
    assert_eq!(status["attempts"], 1);
    assert!(status["processed_at"].is_string());
    assert!(status["error"].is_null());
    assert_eq!(
        h.count(
            "SELECT COUNT(*) FROM orders WHERE order_id = 'A1' AND total = 9.5 AND paid = TRUE"
        )
        .await,
        1
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM messages WHERE body IS NOT NULL").await, 1);
    // The stream is a work queue: the acknowledged message is gone from it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while h.stream_messages("MESSAGES").await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the ack never removed the message");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn a_batch_of_many_messages_is_applied_exactly_once(db: Db) {
    let h = Harness::start(db).await;
    let (_stop, _task) = h.worker(fast_worker(), vec![orders()]).await;
    let body: String = (0..2000)
        .map(|i| format!("{{\"entity_type\":\"order\",\"order_id\":\"o{i}\",\"total\":{i}}}\n"))
        .collect();
    let (code, reply) = h.post("/ingest/batch", &body, &[("Idempotency-Key", "b1")]).await;
    assert_eq!(code, 202, "{reply}");
    // The same batch again (a client retry) adds nothing.
    let (code, _) = h.post("/ingest/batch", &body, &[("Idempotency-Key", "b1")]).await;
    assert_eq!(code, 202);
    let last = reply["messages"][1999]["message_id"].as_str().unwrap().to_owned();
    h.wait_status(&last, "processed").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.count("SELECT COUNT(*) FROM messages WHERE status = 'processed'").await < 2000 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM orders").await, 2000);
    assert_eq!(h.count("SELECT COUNT(DISTINCT order_id) FROM orders").await, 2000);
}

async fn a_message_that_can_never_fit_its_table_is_dead_lettered_at_once(db: Db) {
    let h = Harness::start(db).await;
    let (_stop, _task) = h.worker(fast_worker(), vec![orders()]).await;
    let (_, reply) = h.post("/ingest/message", r#"{"entity_type":"order","total":1}"#, &[]).await;
    let id = reply["message_id"].as_str().unwrap();
    let status = h.wait_status(id, "dead_lettered").await;
    assert_eq!(status["attempts"], 1);
    assert!(status["error"].as_str().unwrap().contains("/order_id is missing"), "{status}");
    assert_eq!(h.stream_messages("MESSAGES_DLQ").await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM orders").await, 0);
    // The dead letter carries the original envelope and why it failed.
    let js = async_nats::jetstream::new(common::connect(&h.nats).await);
    let dlq = js.get_stream("MESSAGES_DLQ").await.unwrap();
    let raw = dlq.get_last_raw_message_by_subject("messages.dlq.order").await.unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&raw.payload).unwrap();
    assert_eq!(envelope["message_id"], id);
    let error = raw.headers.get("Natsapi-Error").unwrap().to_string();
    assert!(error.contains("order_id"), "{error}");
}

/// Fails every message whose body has `"fail": n` with a transient error until attempt n+1.
struct Flaky {
    calls: AtomicUsize,
}

impl MessageHandler for Flaky {
    fn prepare(&self, tx: &mut dyn SqlTx) -> Result<(), IngestError> {
        tx.execute("CREATE TABLE IF NOT EXISTS side_effects (id TEXT)", &[])?;
        Ok(())
    }

    fn apply(&self, tx: &mut dyn SqlTx, message: &Message<'_>) -> Result<(), ApplyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let id = SqlValue::Text(message.message_id.to_string());
        tx.execute("INSERT INTO side_effects VALUES ($1)", &[id])?;
        match message.body.get("fail").and_then(serde_json::Value::as_i64) {
            Some(n) if message.attempts <= n => {
                Err(ApplyError::Transient(format!("attempt {} fails", message.attempts)))
            }
            _ => Ok(()),
        }
    }
}

async fn transient_failures_are_retried_and_then_dead_lettered_and_roll_back_their_writes(db: Db) {
    let h = Harness::start(db).await;
    let flaky = Arc::new(Flaky { calls: AtomicUsize::new(0) });
    let (_stop, _task) = h.worker(fast_worker(), vec![flaky.clone()]).await;
    let (_, passes) = h.post("/ingest/message", r#"{"fail":1}"#, &[]).await;
    let (_, never) = h.post("/ingest/message", r#"{"fail":99}"#, &[]).await;
    let passes = passes["message_id"].as_str().unwrap().to_owned();
    let never = never["message_id"].as_str().unwrap().to_owned();
    let status = h.wait_status(&passes, "processed").await;
    assert_eq!(status["attempts"], 2);
    let status = h.wait_status(&never, "dead_lettered").await;
    assert_eq!(status["attempts"], 3, "max_attempts is 3: {status}");
    assert_eq!(status["error"], "attempt 3 fails");
    // A failed attempt's writes were rolled back: one side effect, from the passing attempt.
    assert_eq!(h.count("SELECT COUNT(*) FROM side_effects").await, 1);
    // Five attempts in all (two for one, three for the other); a call may repeat when the other
    // message of its batch failed and the batch was applied again message by message.
    assert!(flaky.calls.load(Ordering::SeqCst) >= 5);
}

async fn an_unreadable_message_in_the_stream_is_dead_lettered_not_lost(db: Db) {
    let h = Harness::start(db).await;
    let (_stop, _task) = h.worker(fast_worker(), vec![]).await;
    let js = async_nats::jetstream::new(common::connect(&h.nats).await);
    js.publish("messages.ingest.default", "garbage".into()).await.unwrap().await.unwrap();
    // Envelopes a gateway would have refused: a source no store can keep as text, an entity
    // type that is no subject token. Each is dead-lettered alone, not retried with its batch.
    for (entity_type, source) in [("default", "a\0b"), ("no spaces allowed", "s")] {
        let envelope = serde_json::json!({
            "message_id": uuid::Uuid::now_v7(),
            "body": "{}",
            "entity_type": entity_type,
            "received_at": "2026-12-01T00:00:00Z",
            "source": source,
        });
        let bytes = serde_json::to_vec(&envelope).unwrap();
        js.publish("messages.ingest.default", bytes.into()).await.unwrap().await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.stream_messages("MESSAGES_DLQ").await != 3 {
        assert!(tokio::time::Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn several_workers_share_one_consumer_and_apply_each_message_once(db: Db) {
    let h = Harness::start(db).await;
    let calls = Arc::new(Flaky { calls: AtomicUsize::new(0) });
    let (_a, _ta) = h.worker(fast_worker(), vec![calls.clone(), orders()]).await;
    let (_b, _tb) = h.worker(fast_worker(), vec![calls.clone(), orders()]).await;
    let (_c, _tc) = h.worker(fast_worker(), vec![calls.clone(), orders()]).await;
    let body: String = (0..1500)
        .map(|i| format!("{{\"entity_type\":\"order\",\"order_id\":\"o{i}\"}}\n"))
        .collect();
    let (code, _) = h.post("/ingest/batch", &body, &[]).await;
    assert_eq!(code, 202);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while h.count("SELECT COUNT(*) FROM messages WHERE status = 'processed'").await < 1500 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM orders").await, 1500);
    assert_eq!(h.count("SELECT COUNT(*) FROM side_effects").await, 1500);
    assert_eq!(calls.calls.load(Ordering::SeqCst), 1500, "no batch failed, so no call repeated");
}

/// Holds every message until the test lets it go.
struct Gate {
    open: std::sync::Mutex<bool>,
    changed: std::sync::Condvar,
}

impl MessageHandler for Gate {
    fn apply(&self, _: &mut dyn SqlTx, _: &Message<'_>) -> Result<(), ApplyError> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
        Ok(())
    }
}

async fn the_status_goes_from_accepted_to_processing_to_processed(db: Db) {
    let h = Harness::start(db).await;
    let (_, reply) = h.post("/ingest/message", r#"{"slow":true}"#, &[]).await;
    let id = reply["message_id"].as_str().unwrap().to_owned();
    // No worker yet: accepted.
    let (_, status) = h.get(&format!("/ingest/status/{id}")).await;
    assert_eq!(status["status"], "accepted");
    let gate = Arc::new(Gate { open: std::sync::Mutex::new(false), changed: Default::default() });
    let (_stop, _task) = h.worker(fast_worker(), vec![gate.clone()]).await;
    let status = h.wait_status(&id, "processing").await;
    assert_eq!(status["attempts"], 1);
    assert!(status["processed_at"].is_null());
    *gate.open.lock().unwrap() = true;
    gate.changed.notify_all();
    let status = h.wait_status(&id, "processed").await;
    assert!(status["processed_at"].is_string());
}

async fn a_gateway_and_a_worker_with_stores_of_their_own_share_one_row_per_message(db: Db) {
    // As two processes would: each opens the database itself.
    let h = Harness::start(db).await;
    let worker_store = h.place.open();
    let (stop, task) = h.worker_on(worker_store.clone(), fast_worker(), vec![orders()]).await;
    let lines: String = (0..300)
        .map(|i| format!("{{\"entity_type\":\"order\",\"order_id\":\"o{i}\"}}\n"))
        .collect();
    let (code, reply) = h.post("/ingest/batch", &lines, &[]).await;
    assert_eq!(code, 202, "{reply}");
    let first = reply["messages"][0]["message_id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let processed = "SELECT COUNT(*) FROM messages WHERE status = 'processed'";
    while count_in(&worker_store, processed).await != 300 {
        assert!(tokio::time::Instant::now() < deadline, "the worker never applied the batch");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(stop);
    task.await.unwrap();
    // Accepted while no worker runs.
    let (_, reply) = h.post("/ingest/message", r#"{"n":"waiting"}"#, &[]).await;
    let waiting = reply["message_id"].as_str().unwrap().to_owned();
    // One row per message, whichever process wrote it last; the gateway reads the worker's.
    assert_eq!(h.count("SELECT COUNT(*) FROM messages").await, 301);
    assert_eq!(count_in(&worker_store, "SELECT COUNT(*) FROM orders").await, 300);
    assert_eq!(h.get(&format!("/ingest/status/{first}")).await.1["status"], "processed");
    assert_eq!(h.get(&format!("/ingest/status/{waiting}")).await.1["status"], "accepted");
    let (_stop, _task) = h.worker_on(worker_store, fast_worker(), vec![orders()]).await;
    h.wait_status(&waiting, "processed").await;
    assert_eq!(h.count("SELECT COUNT(*) FROM messages").await, 301);
}

async fn a_key_used_again_after_a_worker_recorded_its_message_is_checked_against_that_record(
    db: Db,
) {
    let mut h = Harness::start(db).await;
    let (stop, task) = h.worker(fast_worker(), vec![]).await;
    let single = [("Idempotency-Key", "invoice-1")];
    let (code, first) = h.post("/ingest/message", r#"{"n":1}"#, &single).await;
    assert_eq!(code, 202, "{first}");
    let batch = [("Idempotency-Key", "invoice-batch")];
    let (code, lines) = h.post("/ingest/batch", "{\"n\":1}\n{\"n\":2}\n", &batch).await;
    assert_eq!(code, 202, "{lines}");
    let id = first["message_id"].as_str().unwrap().to_owned();
    h.wait_status(&id, "processed").await;
    for line in lines["messages"].as_array().unwrap() {
        h.wait_status(line["message_id"].as_str().unwrap(), "processed").await;
    }
    drop(stop);
    task.await.unwrap();
    // The rows are the worker's now, and the gateway starts afresh.
    h.restart_gateway().await;

    let (code, other) = h.post("/ingest/message", r#"{"n":2}"#, &single).await;
    assert_eq!(code, 422, "{other}");
    assert!(other["error"]["message"].as_str().unwrap().contains(&id), "{other}");
    let (code, again) = h.post("/ingest/message", r#"{ "n": 1 }"#, &single).await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(again["message_id"], id.as_str());
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["stream_sequence"], first["stream_sequence"]);
    let (code, mixed) = h.post("/ingest/batch", "{\"n\":1}\n{\"n\":3}\n", &batch).await;
    assert_eq!(code, 202, "{mixed}");
    assert_eq!((mixed["inserted"].as_u64(), mixed["duplicates"].as_u64()), (Some(0), Some(1)));
    assert_eq!(mixed["errors"][0]["line"], 2, "{mixed}");
    assert!(mixed["errors"][0]["error"].as_str().unwrap().contains("Idempotency-Key conflict"));
    // Neither the replays nor the refusals left a row, or published anything again, and the
    // worker's records are unchanged.
    assert_eq!(h.count("SELECT COUNT(*) FROM messages").await, 3);
    assert_eq!(h.count("SELECT COUNT(*) FROM messages WHERE status = 'processed'").await, 3);
    assert_eq!(h.stream_messages("MESSAGES").await, 0);
    let (_, status) = h.get(&format!("/ingest/status/{id}")).await;
    assert_eq!(status["status"], "processed", "{status}");
}

async fn a_message_that_did_not_come_through_a_gateway_gets_its_row_from_the_worker(db: Db) {
    let h = Harness::start(db).await;
    let (_stop, _task) = h.worker(fast_worker(), vec![orders()]).await;
    let js = async_nats::jetstream::new(common::connect(&h.nats).await);
    let id = uuid::Uuid::now_v7();
    let envelope = natsapi_ingest::MessageEnvelope {
        message_id: id,
        body: r#"{"order_id":"direct"}"#.into(),
        entity_type: Some("order".into()),
        received_at: natsapi_ingest::time::datetime(1_700_000_000_000),
        retry_count: 0,
        source: Some("elsewhere".into()),
    };
    let payload = serde_json::to_vec(&envelope).unwrap();
    // Twice, as a publisher retrying without a message id would: applied once.
    for _ in 0..2 {
        let ack = js.publish("messages.ingest.order", payload.clone().into()).await.unwrap();
        ack.await.unwrap();
    }
    // No row until the worker makes one.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.get(&format!("/ingest/status/{id}")).await.0 == 404 {
        assert!(tokio::time::Instant::now() < deadline, "the worker never recorded it");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = h.wait_status(&id.to_string(), "processed").await;
    assert_eq!(status["source"], "elsewhere");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.stream_messages("MESSAGES").await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the copies were never acknowledged");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM orders WHERE order_id = 'direct'").await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM messages").await, 1);
}

/// A brief handler the test steps through: each attempt waits until the test releases it, and
/// the first attempt fails.
#[derive(Default)]
struct Stepper {
    /// The attempt last entered, and the highest attempt released.
    state: std::sync::Mutex<(i64, i64)>,
    changed: std::sync::Condvar,
}

impl Stepper {
    async fn wait_entered(&self, attempt: i64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.state.lock().unwrap().0 < attempt {
            assert!(tokio::time::Instant::now() < deadline, "attempt {attempt} never came");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    fn release(&self, attempt: i64) {
        self.state.lock().unwrap().1 = attempt;
        self.changed.notify_all();
    }
}

impl MessageHandler for Stepper {
    fn apply(&self, _: &mut dyn SqlTx, message: &Message<'_>) -> Result<(), ApplyError> {
        let mut state = self.state.lock().unwrap();
        state.0 = message.attempts;
        while state.1 < message.attempts {
            state = self.changed.wait(state).unwrap();
        }
        match message.attempts {
            1 => Err(ApplyError::Transient("the first attempt fails".into())),
            _ => Ok(()),
        }
    }

    fn brief(&self) -> bool {
        true
    }
}

async fn with_brief_handlers_only_a_first_delivery_is_not_marked_processing_but_a_redelivery_is(
    db: Db,
) {
    let h = Harness::start(db).await;
    let stepper = Arc::new(Stepper::default());
    let (_stop, _task) = h.worker(fast_worker(), vec![stepper.clone()]).await;
    let (_, reply) = h.post("/ingest/message", r#"{"n":1}"#, &[]).await;
    let id = reply["message_id"].as_str().unwrap().to_owned();
    let status = format!("/ingest/status/{id}");

    // Being applied, but no `processing` was committed for its first delivery.
    stepper.wait_entered(1).await;
    assert_eq!(h.get(&status).await.1["status"], "accepted");
    stepper.release(1);

    // The redelivery is marked before it is applied.
    stepper.wait_entered(2).await;
    let marked = h.wait_status(&id, "processing").await;
    assert_eq!(marked["attempts"], 2);
    // Why the attempt before failed stays visible while the next one runs.
    assert_eq!(marked["error"], "the first attempt fails");
    stepper.release(2);
    let done = h.wait_status(&id, "processed").await;
    assert_eq!(done["attempts"], 2);
    assert!(done["error"].is_null());
}

async fn a_stopping_worker_gives_back_what_it_pulled_so_another_gets_it_at_once(db: Db) {
    let h = Harness::start(db).await;
    let gate = Arc::new(Gate { open: std::sync::Mutex::new(false), changed: Default::default() });
    // Small batches: four in flight hold 8 messages; the rest of what was pulled waits.
    let small = natsapi_ingest::worker::WorkerSettings { batch_size: 2, ..fast_worker() };
    let (stop, task) = h.worker(small, vec![gate.clone()]).await;
    let lines: String = (0..40).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let (code, _) = h.post("/ingest/batch", &lines, &[]).await;
    assert_eq!(code, 202);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.count("SELECT COUNT(*) FROM messages WHERE status = 'processing'").await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the worker never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Stop it while its batches are held, then let them finish.
    drop(stop);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    *gate.open.lock().unwrap() = true;
    gate.changed.notify_all();
    task.await.unwrap();

    // A new worker gets every message well before the 30 s `ack_wait` would hand them out again.
    let (_stop, _task) = h.worker(fast_worker(), vec![]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.count("SELECT COUNT(*) FROM messages WHERE status = 'processed'").await != 40 {
        assert!(tokio::time::Instant::now() < deadline, "pulled messages were not given back");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // What was given back was delivered a second time.
    assert!(h.count("SELECT COUNT(*) FROM messages WHERE attempts = 2").await > 0);
}

on_both!(
    a_message_that_did_not_come_through_a_gateway_gets_its_row_from_the_worker,
    messages_are_processed_into_the_messages_table_and_the_entity_table,
    a_batch_of_many_messages_is_applied_exactly_once,
    a_message_that_can_never_fit_its_table_is_dead_lettered_at_once,
    transient_failures_are_retried_and_then_dead_lettered_and_roll_back_their_writes,
    an_unreadable_message_in_the_stream_is_dead_lettered_not_lost,
    several_workers_share_one_consumer_and_apply_each_message_once,
    the_status_goes_from_accepted_to_processing_to_processed,
    a_gateway_and_a_worker_with_stores_of_their_own_share_one_row_per_message,
    a_key_used_again_after_a_worker_recorded_its_message_is_checked_against_that_record,
    with_brief_handlers_only_a_first_delivery_is_not_marked_processing_but_a_redelivery_is,
    a_stopping_worker_gives_back_what_it_pulled_so_another_gets_it_at_once,
);
