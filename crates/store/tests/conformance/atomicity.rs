//! The `Operation` contract: an operation that fails with a store error leaves no writes behind,
//! and (SQLite) does not disturb the other operations committed in the same group.

use futures::future::join_all;
use natsapi_core::promises::{TimeoutPromises, time_out};
use natsapi_core::{Code, Operation, Promise, PromiseState, Reply, Tx, TxError};
use natsapi_store::StoreError;

use crate::fixtures::{DEADLINE, T0};
use crate::harness::{ALL, Env, create, each, ok, pending, refused, same, timed_out};

/// Inserts a promise, then fails as a broken backend would.
#[derive(Clone)]
struct InsertThenFail(String);

impl Operation for InsertThenFail {
    type Output = Promise;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Promise>, TxError> {
        let mut promise = pending(&self.0, now);
        tx.insert_promise(&mut promise)?;
        Err(TxError::msg("injected failure"))
    }
}

/// Inserts `fresh`, then times out both `fresh` and the stored `old`, then fails.
#[derive(Clone)]
struct WriteSeveralThenFail {
    fresh: String,
    old: String,
}

impl Operation for WriteSeveralThenFail {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<()>, TxError> {
        let mut fresh = pending(&self.fresh, now);
        tx.insert_promise(&mut fresh)?;
        time_out(tx, &mut fresh)?;
        let mut old = tx.promise(&self.old)?.expect("old exists");
        time_out(tx, &mut old)?;
        Err(TxError::msg("injected failure"))
    }
}

async fn failed_writes_are_undone(env: Env) {
    let ops = (0..64).map(|i| {
        let store = env.store.clone();
        async move {
            if i % 8 == 3 {
                let reply = store.run(InsertThenFail(format!("bad{i}"))).await;
                assert!(matches!(reply, Err(StoreError::Tx(_))), "{reply:?}");
            } else {
                ok(store.run(create(&format!("good{i}"))).await.unwrap(), Code::Created);
            }
        }
    });
    join_all(ops).await;
    for i in 0..64 {
        if i % 8 == 3 {
            refused(env.read(&format!("bad{i}")).await, Code::PromiseNotFound);
            // The id is free: a real create of it succeeds.
            ok(env.run(create(&format!("bad{i}"))).await, Code::Created);
        } else {
            env.get(&format!("good{i}")).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_operation_leaves_no_writes() {
    each(ALL, failed_writes_are_undone).await;
}

#[tokio::test]
async fn a_failed_operation_leaves_completed_promises_pending() {
    each(ALL, |env| async move {
        let old = ok(env.run(create("old")).await, Code::Created);
        let op = WriteSeveralThenFail { fresh: "fresh".into(), old: "old".into() };
        let reply = env.store.run(op).await;
        assert!(matches!(reply, Err(StoreError::Tx(_))), "{reply:?}");
        refused(env.read("fresh").await, Code::PromiseNotFound);
        same(&env.get("old").await, &pending("old", T0));
        // The pending promise is still known to the timeout sweep.
        let report = ok(env.run(TimeoutPromises { limit: 10 }).await, Code::Ok);
        assert!(report.timed_out.is_empty());
        assert_eq!(report.next_deadline, Some(DEADLINE));
        env.clock.set(DEADLINE);
        let report = ok(env.run(TimeoutPromises { limit: 10 }).await, Code::Ok);
        assert_eq!(report.timed_out.len(), 1, "{report:?}");
        same(&report.timed_out[0], &timed_out(&old, PromiseState::RejectedTimedout));
        // A later insert still sorts after everything that exists.
        let next = ok(env.run(create("next")).await, Code::Created);
        assert!(next.sort_id > old.sort_id);
    })
    .await;
}

/// Inserts a promise, then panics (a bug in an operation).
#[derive(Clone)]
struct InsertThenPanic(String);

impl Operation for InsertThenPanic {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<()>, TxError> {
        let mut promise = pending(&self.0, now);
        tx.insert_promise(&mut promise)?;
        panic!("injected panic");
    }
}

#[tokio::test]
async fn a_panicking_operation_is_reported_and_the_store_goes_on() {
    each(ALL, |env| async move {
        let reply = env.store.run(InsertThenPanic("boom".into())).await;
        match reply {
            Err(StoreError::Panicked(message)) => assert!(message.contains("injected panic")),
            other => panic!("expected a panic report, got {other:?}"),
        }
        refused(env.read("boom").await, Code::PromiseNotFound);
        ok(env.run(create("after")).await, Code::Created);
    })
    .await;
}
