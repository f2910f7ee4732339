//! Firing schedules (spec §10 SchedulePromises): the promise each tick creates, catch-up of
//! missed ticks one per run, advancing even when the promise id exists, batch limits.

use natsapi_core::promises::{CreatePromise, TimeoutPromises};
use natsapi_core::schedule::{INVOCATION_TAG, SCHEDULE_TAG};
use natsapi_core::schedules::{
    CreateSchedule, DeleteSchedule, FireReport, FireSchedules, ReadSchedule,
};
use natsapi_core::{Code, Operation, Promise, PromiseState, Reply, Tx, TxError, Value};
use natsapi_store::StoreError;

use crate::fixtures::{HOUR, T0};
use crate::harness::{ALL, Env, create, each, map, ok, refused, same};
use crate::schedules::{get_schedule, schedule};

async fn fire(env: &Env, limit: usize) -> FireReport {
    ok(env.run(FireSchedules { limit }).await, Code::Ok)
}

/// The promise ids a run created (201) and those that already existed (409).
fn outcome(report: &FireReport) -> (Vec<&str>, Vec<&str>) {
    let mut created = Vec::new();
    let mut existed = Vec::new();
    for firing in &report.fired {
        match &firing.promise {
            Ok(s) if s.code == Code::Created => created.push(firing.promise_id.as_str()),
            Err(e) if e.code == Code::PromiseAlreadyExists => {
                existed.push(firing.promise_id.as_str())
            }
            other => panic!("unexpected create outcome {other:?}"),
        }
    }
    (created, existed)
}

#[tokio::test]
async fn a_due_tick_creates_the_promise_and_advances_the_schedule() {
    each(ALL, |env| async move {
        let op = CreateSchedule {
            promise_timeout: 5_000,
            promise_param: Value { headers: map(&[("h", "1")]), data: b"x\0y".to_vec() },
            promise_tags: map(&[("a", "1"), (SCHEDULE_TAG, "spoofed")]),
            tags: map(&[("schedule-only", "1")]),
            ..schedule("s", "* * * * * *")
        };
        ok(env.run(op).await, Code::Created);

        let report = fire(&env, 100).await;
        assert!(report.fired.is_empty(), "nothing due at creation: {report:?}");
        assert_eq!(report.next_run, Some(T0 + 1_000));

        env.clock.set(T0 + 1_500);
        let report = fire(&env, 100).await;
        let id = format!("s.{}", T0 + 1_000);
        assert_eq!(outcome(&report), (vec![id.as_str()], vec![]));
        assert_eq!(report.fired[0].schedule_id, "s");
        assert_eq!(report.fired[0].tick, T0 + 1_000);
        assert_eq!(report.next_run, Some(T0 + 2_000));

        let expected = Promise {
            id: id.clone(),
            state: PromiseState::Pending,
            param: Value { headers: map(&[("h", "1")]), data: b"x\0y".to_vec() },
            value: Value::default(),
            timeout: T0 + 6_000,
            idempotency_key_for_create: None,
            idempotency_key_for_complete: None,
            tags: map(&[("a", "1"), (SCHEDULE_TAG, "s"), (INVOCATION_TAG, "true")]),
            created_on: T0 + 1_500,
            completed_on: None,
            sort_id: 0,
        };
        let Ok(created) = &report.fired[0].promise else { unreachable!() };
        same(&created.value, &expected);
        same(&env.get(&id).await, &expected);

        let s = get_schedule(&env, "s").await;
        assert_eq!(s.last_run_time, Some(T0 + 1_000));
        assert_eq!(s.next_run_time, T0 + 2_000);

        // The promise times out at tick + promiseTimeout like any other.
        env.clock.set(T0 + 6_000);
        let timed_out = ok(env.run(TimeoutPromises { limit: 10 }).await, Code::Ok).timed_out;
        assert!(timed_out.iter().any(|p| p.id == id), "{timed_out:?}");
    })
    .await;
}

#[tokio::test]
async fn missed_ticks_are_caught_up_one_per_run() {
    each(ALL, |env| async move {
        ok(env.run(schedule("s", "@every 1s")).await, Code::Created);
        env.clock.set(T0 + 3_500);
        let mut fired = Vec::new();
        for _ in 0..3 {
            let report = fire(&env, 100).await;
            assert_eq!(report.fired.len(), 1, "one tick per schedule per run: {report:?}");
            fired.push(report.fired[0].tick);
            assert!(report.next_run.is_some_and(|next| next <= T0 + 4_000));
        }
        assert_eq!(fired, [T0 + 1_000, T0 + 2_000, T0 + 3_000]);
        let report = fire(&env, 100).await;
        assert!(report.fired.is_empty(), "caught up: {report:?}");
        assert_eq!(report.next_run, Some(T0 + 4_000));
        for tick in fired {
            assert_eq!(env.get(&format!("s.{tick}")).await.timeout, tick + HOUR);
        }
        let s = get_schedule(&env, "s").await;
        assert_eq!((s.last_run_time, s.next_run_time), (Some(T0 + 3_000), T0 + 4_000));
    })
    .await;
}

#[tokio::test]
async fn an_existing_promise_id_does_not_hold_the_schedule_back() {
    each(ALL, |env| async move {
        // Without {{.timestamp}} every tick renders the same id.
        let fixed =
            CreateSchedule { promise_id: "job-{{.id}}".into(), ..schedule("s", "@every 1s") };
        ok(env.run(fixed).await, Code::Created);
        // A promise some client made with the id the next tick renders.
        let clash = CreateSchedule { promise_id: "taken".into(), ..schedule("t", "@every 1s") };
        ok(env.run(clash).await, Code::Created);
        let taken = ok(env.run(create("taken")).await, Code::Created);

        env.clock.set(T0 + 1_000);
        let report = fire(&env, 100).await;
        assert_eq!(outcome(&report), (vec!["job-s"], vec!["taken"]));
        env.clock.set(T0 + 2_000);
        let report = fire(&env, 100).await;
        assert_eq!(outcome(&report), (vec![], vec!["job-s", "taken"]));
        for id in ["s", "t"] {
            let s = get_schedule(&env, id).await;
            assert_eq!(s.last_run_time, Some(T0 + 2_000), "{id} advanced");
            assert_eq!(s.next_run_time, T0 + 3_000);
        }
        same(&env.get("taken").await, &taken);
        assert_eq!(env.get("job-s").await.created_on, T0 + 1_000, "the first tick's promise stays");
    })
    .await;
}

#[tokio::test]
async fn due_schedules_fire_earliest_first_up_to_the_limit() {
    each(ALL, |env| async move {
        // First ticks: b at T0+1s, c at T0+10s, a at T0+40s (next minute); d not due.
        for (id, cron) in [("a", "* * * * *"), ("b", "@every 1s"), ("c", "*/10 * * * * *")] {
            ok(env.run(schedule(id, cron)).await, Code::Created);
        }
        ok(env.run(schedule("d", "@hourly")).await, Code::Created);
        env.clock.set(T0 + 40_000);
        let report = fire(&env, 0).await;
        assert!(report.fired.is_empty(), "limit 0 fires nothing");
        assert_eq!(report.next_run, Some(T0 + 1_000));

        let ticks = |r: &FireReport| {
            r.fired.iter().map(|f| (f.schedule_id.clone(), f.tick)).collect::<Vec<_>>()
        };
        let report = fire(&env, 2).await;
        assert_eq!(ticks(&report), [("b".into(), T0 + 1_000), ("c".into(), T0 + 10_000)]);
        assert_eq!(report.next_run, Some(T0 + 2_000), "b's next tick is due already");
        // One tick per schedule per run: b's next missed tick waits for the next run.
        let report = fire(&env, 2).await;
        assert_eq!(ticks(&report), [("b".into(), T0 + 2_000), ("c".into(), T0 + 20_000)]);
        let report = fire(&env, 2).await;
        assert_eq!(ticks(&report), [("b".into(), T0 + 3_000), ("c".into(), T0 + 30_000)]);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_schedule_stops_firing_and_its_promises_stay() {
    each(ALL, |env| async move {
        ok(env.run(schedule("s", "@every 1s")).await, Code::Created);
        env.clock.set(T0 + 1_000);
        let report = fire(&env, 10).await;
        assert_eq!(report.fired.len(), 1);
        ok(env.run(DeleteSchedule { id: "s".into() }).await, Code::NoContent);
        env.clock.set(T0 + 5_000);
        let report = fire(&env, 10).await;
        assert!(report.fired.is_empty(), "{report:?}");
        assert_eq!(report.next_run, None, "no schedule is left");
        env.get(&format!("s.{}", T0 + 1_000)).await;
        let missing = env.read(&format!("s.{}", T0 + 2_000)).await;
        refused(missing, Code::PromiseNotFound);
    })
    .await;
}

#[tokio::test]
async fn rendered_ids_are_not_html_escaped() {
    each(ALL, |env| async move {
        let op = CreateSchedule {
            promise_id: "<{{.id}}>/{{.timestamp}}".into(),
            ..schedule("a&b", "@every 1s")
        };
        ok(env.run(op).await, Code::Created);
        env.clock.set(T0 + 1_000);
        let report = fire(&env, 10).await;
        assert_eq!(outcome(&report).0, [format!("<a&b>/{}", T0 + 1_000)]);
        let promise = env.get(&format!("<a&b>/{}", T0 + 1_000)).await;
        assert_eq!(promise.tags.get(SCHEDULE_TAG).map(String::as_str), Some("a&b"));
    })
    .await;
}

#[tokio::test]
async fn a_scheduled_promise_is_created_by_the_promise_rules() {
    each(ALL, |env| async move {
        // The create path times out a due promise it finds, as promises.create does.
        let due = CreatePromise { timeout: T0 + 500, ..create("p") };
        ok(env.run(due).await, Code::Created);
        let op = CreateSchedule { promise_id: "p".into(), ..schedule("s", "@every 1s") };
        ok(env.run(op).await, Code::Created);
        env.clock.set(T0 + 1_000);
        let report = fire(&env, 10).await;
        assert_eq!(outcome(&report), (vec![], vec!["p"]));
        let stored = env.get("p").await;
        assert_eq!(stored.state, PromiseState::RejectedTimedout);
    })
    .await;
}

/// Fires due schedules, creates and deletes schedules, then fails as a broken backend would.
#[derive(Clone)]
struct FireThenFail;

impl Operation for FireThenFail {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<()>, TxError> {
        let report = FireSchedules { limit: 10 }.apply(tx, now)?;
        assert_eq!(report.map(|s| s.value.fired.len()).ok(), Some(1));
        let created = schedule("new", "@daily").apply(tx, now)?;
        assert!(created.is_ok());
        DeleteSchedule { id: "other".into() }.apply(tx, now)?.ok();
        Err(TxError::msg("injected failure"))
    }
}

#[tokio::test]
async fn a_failed_operation_leaves_schedules_as_they_were() {
    each(ALL, |env| async move {
        ok(env.run(schedule("s", "@every 1s")).await, Code::Created);
        let other = ok(env.run(schedule("other", "@hourly")).await, Code::Created);
        env.clock.set(T0 + 1_000);
        let before = get_schedule(&env, "s").await;
        let reply = env.store.run(FireThenFail).await;
        assert!(matches!(reply, Err(StoreError::Tx(_))), "{reply:?}");
        assert_eq!(get_schedule(&env, "s").await, before, "not advanced");
        assert_eq!(get_schedule(&env, "other").await, other, "not deleted");
        refused(env.run(ReadSchedule { id: "new".into() }).await, Code::ScheduleNotFound);
        refused(env.read(&format!("s.{}", T0 + 1_000)).await, Code::PromiseNotFound);
        // The tick is still due, and fires for real now.
        let report = fire(&env, 10).await;
        assert_eq!(outcome(&report).0, [format!("s.{}", T0 + 1_000)]);
        let new = ok(env.run(schedule("new", "@daily")).await, Code::Created);
        assert!(new.sort_id > other.sort_id);
    })
    .await;
}
