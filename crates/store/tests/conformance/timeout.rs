//! Promise timeouts (spec §4): what a timeout completion stores, the `resonate:timeout` tag,
//! the background `TimeoutPromises` operation, and how a create's `timeout` becomes a deadline.

use natsapi_core::promise::TIMEOUT_TAG;
use natsapi_core::promises::{CreatePromise, TimeoutPromises, TimeoutReport};
use natsapi_core::time::ABSOLUTE_DEADLINE_THRESHOLD;
use natsapi_core::{Code, Promise, PromiseState, Value};

use crate::fixtures::{DEADLINE, HOUR, T0};
use crate::harness::{
    ALL, Env, complete, create, each, map, ok, pending, refused, same, timed_out,
};

use PromiseState::{RejectedTimedout as TIMEDOUT, Resolved as RESOLVED};

/// A bare create of `id` due at `deadline`.
fn due_at(id: &str, deadline: i64) -> CreatePromise {
    CreatePromise { timeout: deadline, ..create(id) }
}

async fn sweep(env: &Env, limit: usize) -> TimeoutReport {
    ok(env.run(TimeoutPromises { limit }).await, Code::Ok)
}

#[tokio::test]
async fn a_timeout_completes_at_the_deadline_with_an_empty_value_and_no_key() {
    each(ALL, |env| async move {
        let op = CreatePromise {
            idempotency_key: Some("create-key".into()),
            param: Value { headers: map(&[("p", "q")]), data: vec![0, 9, 0] },
            tags: map(&[("resonate:timeout", "false"), ("k", "v")]),
            ..create("p")
        };
        let created = ok(env.run(op).await, Code::Created);
        env.clock.set(DEADLINE + 12_345);
        let got = env.get("p").await;
        assert_eq!(got.state, TIMEDOUT, "a timeout tag other than \"true\" does not resolve");
        assert_eq!(got.completed_on, Some(DEADLINE), "completedOn is the deadline, not now");
        assert_eq!(got.value, Value::default());
        assert_eq!(got.idempotency_key_for_complete, None);
        same(&got, &timed_out(&created, TIMEDOUT));
    })
    .await;
}

#[tokio::test]
async fn timeout_promises_times_out_due_promises_earliest_first_up_to_the_limit() {
    each(ALL, |env| async move {
        // Created out of deadline order, so earliest-first is not insertion order.
        let c = ok(env.run(due_at("c", T0 + 30)).await, Code::Created);
        let a = ok(env.run(due_at("a", T0 + 10)).await, Code::Created);
        let b = ok(env.run(due_at("b", T0 + 20)).await, Code::Created);
        let tagged = CreatePromise { tags: map(&[(TIMEOUT_TAG, "true")]), ..due_at("t", T0 + 25) };
        let t = ok(env.run(tagged).await, Code::Created);
        ok(env.run(due_at("far", T0 + 1_000)).await, Code::Created);
        ok(env.run(due_at("done", T0 + 5)).await, Code::Created);
        env.clock.set(T0 + 1);
        let done = ok(env.run(complete("done", RESOLVED)).await, Code::Created);

        let report = sweep(&env, 100).await;
        assert!(report.timed_out.is_empty(), "nothing is due yet: {report:?}");
        assert_eq!(report.next_deadline, Some(T0 + 10));

        env.clock.set(T0 + 30);
        let report = sweep(&env, 2).await;
        assert_eq!(report.timed_out.len(), 2, "{report:?}");
        same(&report.timed_out[0], &timed_out(&a, TIMEDOUT));
        same(&report.timed_out[1], &timed_out(&b, TIMEDOUT));
        assert_eq!(report.next_deadline, Some(T0 + 25), "the earliest deadline left");

        let report = sweep(&env, 2).await;
        assert_eq!(report.timed_out.len(), 2, "{report:?}");
        same(&report.timed_out[0], &timed_out(&t, RESOLVED));
        same(&report.timed_out[1], &timed_out(&c, TIMEDOUT));
        assert_eq!(report.next_deadline, Some(T0 + 1_000));

        let report = sweep(&env, 2).await;
        assert!(report.timed_out.is_empty(), "{report:?}");
        assert_eq!(report.next_deadline, Some(T0 + 1_000));

        // What the sweeps did is stored; the completed promise was never touched.
        same(&env.get("a").await, &timed_out(&a, TIMEDOUT));
        same(&env.get("t").await, &timed_out(&t, RESOLVED));
        same(&env.get("done").await, &done);
        same(&env.get("far").await, &pending("far", T0).with_timeout(T0 + 1_000));

        ok(env.run(complete("far", RESOLVED)).await, Code::Created);
        let report = sweep(&env, 2).await;
        assert!(report.timed_out.is_empty(), "{report:?}");
        assert_eq!(report.next_deadline, None, "no pending promise is left");
    })
    .await;
}

#[tokio::test]
async fn timeout_promises_with_equal_deadlines_takes_each_once() {
    each(ALL, |env| async move {
        for id in ["x", "y", "z"] {
            ok(env.run(due_at(id, T0 + 10)).await, Code::Created);
        }
        env.clock.set(T0 + 10);
        let report = sweep(&env, 0).await;
        assert!(report.timed_out.is_empty(), "limit 0 times out nothing: {report:?}");
        assert_eq!(report.next_deadline, Some(T0 + 10));
        let mut seen = Vec::new();
        for _ in 0..3 {
            let report = sweep(&env, 1).await;
            assert_eq!(report.timed_out.len(), 1, "{report:?}");
            seen.push(report.timed_out[0].id.clone());
        }
        seen.sort();
        assert_eq!(seen, ["x", "y", "z"]);
        assert_eq!(sweep(&env, 1).await.next_deadline, None);
    })
    .await;
}

#[tokio::test]
async fn a_timeout_below_10_to_the_12_is_relative_to_now() {
    each(ALL, |env| async move {
        env.clock.set(T0 + 3);
        let got = ok(env.run(due_at("hour", HOUR)).await, Code::Created);
        assert_eq!(got.timeout, T0 + 3 + HOUR);
        let limit = ABSOLUTE_DEADLINE_THRESHOLD;
        let got = ok(env.run(due_at("largest-relative", limit - 1)).await, Code::Created);
        assert_eq!(got.timeout, T0 + 3 + limit - 1);
        same(&env.get("hour").await, &pending("hour", T0 + 3).with_timeout(T0 + 3 + HOUR));
    })
    .await;
}

#[tokio::test]
async fn a_timeout_in_the_past_is_stored_pending_and_times_out_on_the_next_touch() {
    each(ALL, |env| async move {
        // 10^12 is absolute, long before T0.
        let limit = ABSOLUTE_DEADLINE_THRESHOLD;
        let past = ok(env.run(due_at("past", limit)).await, Code::Created);
        same(&past, &pending("past", T0).with_timeout(limit));
        // A zero timeout means "now": due at once.
        let zero = ok(env.run(due_at("zero", 0)).await, Code::Created);
        same(&zero, &pending("zero", T0).with_timeout(T0));
        same(&env.get("past").await, &timed_out(&past, TIMEDOUT));
        same(&env.get("zero").await, &timed_out(&zero, TIMEDOUT));
        assert_eq!(env.get("past").await.completed_on, Some(limit));
    })
    .await;
}

#[tokio::test]
async fn the_largest_timeout_never_comes_due_before_the_end_of_time() {
    each(ALL, |env| async move {
        let max = ok(env.run(due_at("max", i64::MAX)).await, Code::Created);
        same(&max, &pending("max", T0).with_timeout(i64::MAX));
        ok(env.run(due_at("max2", i64::MAX)).await, Code::Created);
        env.clock.set(i64::MAX - 1);
        same(&env.get("max").await, &max);
        let report = sweep(&env, 100).await;
        assert!(report.timed_out.is_empty(), "{report:?}");
        assert_eq!(report.next_deadline, Some(i64::MAX));
        let done = ok(env.run(complete("max", RESOLVED)).await, Code::Created);
        assert_eq!(done.completed_on, Some(i64::MAX - 1));
        env.clock.set(i64::MAX);
        same(&env.get("max2").await, &timed_out(&max.with_id("max2"), TIMEDOUT));
    })
    .await;
}

#[tokio::test]
async fn a_negative_timeout_is_a_bad_request() {
    each(ALL, |env| async move {
        for timeout in [-1, i64::MIN] {
            let err = refused(env.run(due_at("neg", timeout)).await, Code::BadRequest);
            assert!(err.message.contains("timeout"), "message names the field: {}", err.message);
        }
        refused(env.read("neg").await, Code::PromiseNotFound);
    })
    .await;
}

/// Small builders for expected promises.
trait With {
    fn with_timeout(self, timeout: i64) -> Promise;
    fn with_id(self, id: &str) -> Promise;
}

impl With for Promise {
    fn with_timeout(self, timeout: i64) -> Promise {
        Promise { timeout, ..self }
    }

    fn with_id(self, id: &str) -> Promise {
        Promise { id: id.to_owned(), ..self }
    }
}
