//! Schedules and locks over real NATS request-reply: both spellings of the renamed fields, the
//! error codes, and the timers that fire schedules and expire locks as the manual clock moves.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, T0, assert_error};
use natsapi_core::{Lock, Operation, PromiseState, Reply as DomainReply, Success, Tx, TxError};
use natsapi_store::StoreConfig;
use serde_json::json;

/// Reads a lock as stored.
#[derive(Clone)]
struct PeekLock(String);

impl Operation for PeekLock {
    type Output = Option<Lock>;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<DomainReply<Option<Lock>>, TxError> {
        Ok(Ok(Success::ok(tx.lock(&self.0)?)))
    }
}

async fn peek_lock(h: &Harness, resource: &str) -> Option<Lock> {
    let store = h.server().api().store();
    store.run(PeekLock(resource.to_owned())).await.expect("store answers").expect("peek").value
}

/// Waits (bounded, in real time) until `check` holds.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn schedule_operations_accept_both_field_spellings() {
    let h = Harness::start().await;
    let create = json!({"id":"daily-report","description":"nightly","cron":"0 0 * * *",
        "promiseId":"report-{{.timestamp}}","promiseTimeout":3600000,
        "promiseParam":{"headers":{},"data":null},"tags":{"team":"a"},"idempotencyKey":"k"});
    let created = h.call("schedules.create", create).await;
    assert_eq!(created.status, Some(201), "{created:?}");
    assert_eq!(
        created.response.unwrap(),
        json!({"id":"daily-report","desc":"nightly","cron":"0 0 * * *","tags":{"team":"a"},
               "promiseId":"report-{{.timestamp}}","promiseTimeout":3600000,"promiseParam":{},
               "nextRunTime":1_700_006_400_000i64,"idempotencyKey":"k","createdOn":T0})
    );
    // Resonate's spelling, same key: a replay.
    let replay = json!({"id":"daily-report","desc":"other","cron":"@hourly","promiseId":"x",
        "promiseTimeout":1,"idempotencyKey":"k"});
    let replay = h.call("schedules.create", replay).await;
    assert_eq!(replay.status, Some(200));
    assert_eq!(replay.response.unwrap()["desc"], "nightly");
    let clash = json!({"id":"daily-report","cron":"@hourly","promiseId":"x","promiseTimeout":1});
    assert_error(&h.call("schedules.create", clash).await, 409, "already exists");

    let read = h.call("schedules.read", json!({"id":"daily-report"})).await;
    assert_eq!(read.status, Some(200));
    assert_eq!(read.response.unwrap()["cron"], "0 0 * * *");
    let search = h.call("schedules.search", json!({"id":"daily-*","tags":{"team":"a"}})).await;
    let page = search.response.unwrap();
    assert_eq!(page["schedules"][0]["id"], "daily-report");
    assert_eq!(page["cursor"], json!(null));
    for i in 0..3 {
        let op = json!({"id":format!("s{i}"),"cron":"@daily","promiseId":"p","promiseTimeout":1});
        assert_eq!(h.call("schedules.create", op).await.status, Some(201));
    }
    let first = h.call("schedules.search", json!({"id":"s*","limit":2})).await.response.unwrap();
    assert_eq!(first["schedules"].as_array().unwrap().len(), 2);
    let cursor = first["cursor"].as_str().expect("a cursor").to_owned();
    let next = h.call("schedules.search", json!({"cursor":cursor})).await.response.unwrap();
    assert_eq!(next["schedules"][0]["id"], "s0");

    let deleted = h.call("schedules.delete", json!({"id":"daily-report"})).await;
    assert!(deleted.success, "{deleted:?}");
    assert_eq!(deleted.status, Some(204));
    assert_error(&h.call("schedules.read", json!({"id":"daily-report"})).await, 404, "not found");
    assert_error(&h.call("schedules.delete", json!({"id":"daily-report"})).await, 404, "not found");
    h.stop().await;
}

#[tokio::test]
async fn bad_schedules_get_a_400_that_names_the_problem() {
    let h = Harness::start().await;
    let with = |cron: &str, promise_id: &str| json!({"id":"s","cron":cron,"promiseId":promise_id,"promiseTimeout":1000});
    let bad = |payload| h.call("schedules.create", payload);
    assert_error(&bad(with("not a cron", "p")).await, 400, "invalid cron \"not a cron\"");
    assert_error(&bad(with("61 * * * *", "p")).await, 400, "invalid cron");
    assert_error(&bad(with("@every 1y", "p")).await, 400, "unknown unit");
    // Finer than the scheduler's ticks, which fall on whole seconds.
    assert_error(&bad(with("@every 1ms", "p")).await, 400, "at least 1s");
    assert_error(&bad(with("@every 1.5s", "p")).await, 400, "whole number of seconds");
    assert_error(&bad(with("* * * * *", "p-{{.when}}")).await, 400, "{{.when}}");
    assert_error(
        &bad(json!({"id":"s","cron":"@daily","promiseId":"p"})).await,
        400,
        "promiseTimeout",
    );
    assert_error(&bad(json!({"id":"s","promiseId":"p","promiseTimeout":1})).await, 400, "cron");
    let both = json!({"id":"s","cron":"@daily","promiseId":"p","promiseTimeout":1,
        "description":"a","desc":"b"});
    assert_error(&bad(both).await, 400, "description");
    assert_error(&h.call("schedules.search", json!({"id":"*","limit":0})).await, 400, "limit");
    assert_error(&h.call("schedules.search", json!({"cursor":"garbage!"})).await, 400, "cursor");
    assert_error(&h.call("schedules.read", json!({"id":""})).await, 400, "id");
    assert_error(&h.call("schedules.read", json!({"id":"s"})).await, 404, "\"s\"");
    h.stop().await;
}

async fn fire_on_the_clock(h: Harness) {
    let create = json!({"id":"tick","cron":"* * * * * *","promiseId":"{{.id}}-{{.timestamp}}",
        "promiseTimeout":500,"promiseTags":{"k":"v"}});
    assert_eq!(h.call("schedules.create", create).await.status, Some(201));
    let every = json!({"id":"every","cron":"@every 2s","promiseId":"every-{{.timestamp}}",
        "promiseTimeout":60000});
    assert_eq!(h.call("schedules.create", every).await.status, Some(201));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.peek(&format!("tick-{}", T0 + 1_000)).await.is_none(), "not due yet");

    h.time.advance(1_000);
    let first = format!("tick-{}", T0 + 1_000);
    eventually("the first tick's promise", || async { h.peek(&first).await.is_some() }).await;
    let promise = h.peek(&first).await.unwrap();
    assert_eq!(promise.timeout, T0 + 1_500);
    assert_eq!(promise.tags.get("resonate:schedule").map(String::as_str), Some("tick"));
    assert_eq!(promise.tags.get("resonate:invocation").map(String::as_str), Some("true"));
    assert_eq!(promise.tags.get("k").map(String::as_str), Some("v"));

    // Missed ticks are caught up, and the scheduled promises time out on their own.
    h.time.advance(3_000);
    for tick in [T0 + 2_000, T0 + 3_000, T0 + 4_000] {
        let id = format!("tick-{tick}");
        eventually(&id, || async { h.peek(&id).await.is_some() }).await;
    }
    for tick in [T0 + 2_000, T0 + 4_000] {
        let id = format!("every-{tick}");
        eventually(&id, || async { h.peek(&id).await.is_some() }).await;
    }
    eventually("the first tick's promise to time out", || async {
        h.peek(&first).await.is_some_and(|p| p.state == PromiseState::RejectedTimedout)
    })
    .await;
    let schedule = h.call("schedules.read", json!({"id":"tick"})).await.response.unwrap();
    assert_eq!(schedule["lastRunTime"], T0 + 4_000);
    assert_eq!(schedule["nextRunTime"], T0 + 5_000);
    assert!(h.peek(&format!("tick-{}", T0 + 5_000)).await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn schedules_fire_as_the_clock_reaches_their_ticks() {
    fire_on_the_clock(Harness::start().await).await;
}

#[tokio::test]
async fn schedules_fire_on_sqlite_too() {
    let dir = tempfile::tempdir().unwrap();
    fire_on_the_clock(Harness::start_with(StoreConfig::sqlite(dir.path().join("s.db"))).await)
        .await;
}

#[tokio::test]
async fn lock_operations_accept_both_ttl_spellings() {
    let h = Harness::start().await;
    let acquire = json!({"resourceId":"r1","executionId":"e1","processId":"p1","ttl":10000});
    let got = h.call("locks.acquire", acquire.clone()).await;
    assert_eq!(got.status, Some(201), "{got:?}");
    assert_eq!(
        got.response.unwrap(),
        json!({"resourceId":"r1","executionId":"e1","processId":"p1","ttl":10000,
               "expiresAt":T0 + 10_000})
    );
    assert_eq!(h.call("locks.acquire", acquire).await.status, Some(201), "re-entrant");
    let seed = json!({"resourceId":"r2","executionId":"e2","processId":"p1",
        "expiryInMilliseconds":60000});
    let got = h.call("locks.acquire", seed).await;
    assert_eq!(got.response.unwrap()["ttl"], 60000);
    let other = json!({"resourceId":"r1","executionId":"e9","processId":"p9","ttl":1});
    assert_error(&h.call("locks.acquire", other).await, 403, "already acquired");

    let beat = h.call("locks.heartbeat", json!({"processId":"p1"})).await;
    assert_eq!(beat.status, Some(200));
    assert_eq!(beat.response.unwrap(), json!({"locksAffected":2}));

    let wrong = json!({"resourceId":"r1","executionId":"e2"});
    assert_error(&h.call("locks.release", wrong).await, 404, "no lock");
    let released = h.call("locks.release", json!({"resourceId":"r1","executionId":"e1"})).await;
    assert!(released.success, "{released:?}");
    assert_eq!(released.status, Some(204));

    let no_ttl = json!({"resourceId":"r","executionId":"e","processId":"p"});
    assert_error(&h.call("locks.acquire", no_ttl).await, 400, "ttl");
    let negative = json!({"resourceId":"r","executionId":"e","processId":"p","ttl":-5});
    assert_error(&h.call("locks.acquire", negative).await, 400, "ttl must not be negative");
    let empty = json!({"resourceId":"","executionId":"e","processId":"p","ttl":5});
    assert_error(&h.call("locks.acquire", empty).await, 400, "resourceId");
    assert_error(&h.call("locks.heartbeat", json!({})).await, 400, "processId");
    h.stop().await;
}

#[tokio::test]
async fn expired_locks_are_swept_when_the_clock_reaches_them() {
    let h = Harness::start().await;
    for (resource, ttl) in [("soon", 1_000), ("later", 5_000)] {
        let op = json!({"resourceId":resource,"executionId":"e","processId":"p","ttl":ttl});
        assert_eq!(h.call("locks.acquire", op).await.status, Some(201));
    }
    h.time.advance(999);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(peek_lock(&h, "soon").await.is_some(), "not expired yet");
    h.time.advance(1);
    eventually("the expired lock to go", || async { peek_lock(&h, "soon").await.is_none() }).await;
    assert!(peek_lock(&h, "later").await.is_some());
    // A lock acquired after the timer went to sleep on a later expiry still wakes it.
    let sooner = json!({"resourceId":"sooner","executionId":"e","processId":"p","ttl":500});
    assert_eq!(h.call("locks.acquire", sooner).await.status, Some(201));
    h.time.advance(500);
    eventually("the sooner lock to go", || async { peek_lock(&h, "sooner").await.is_none() }).await;
    assert!(peek_lock(&h, "later").await.is_some());
    h.stop().await;
}
