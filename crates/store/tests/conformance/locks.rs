//! Locks (spec §11, §15.3 lock cases, §15.2 validator rules): re-entrant acquire, process
//! switch, 403 for another execution, expired locks no longer block, release, heartbeat, expiry.

use natsapi_core::locks::{
    AcquireLock, ExpireLocks, ExpireReport, HeartbeatLocks, LocksAffected, ReleaseLock,
};
use natsapi_core::{Code, Lock, Operation, Reply, Tx, TxError};
use natsapi_store::StoreError;

use crate::fixtures::T0;
use crate::harness::{ALL, Env, each, ok, refused, table};

const TTL: i64 = 10_000;

fn acquire(resource: &str, execution: &str, process: &str) -> AcquireLock {
    AcquireLock {
        resource_id: resource.to_owned(),
        execution_id: execution.to_owned(),
        process_id: process.to_owned(),
        ttl: TTL,
    }
}

fn release(resource: &str, execution: &str) -> ReleaseLock {
    ReleaseLock { resource_id: resource.to_owned(), execution_id: execution.to_owned() }
}

/// The lock `op` stores at `now`.
fn held(op: &AcquireLock, now: i64) -> Lock {
    Lock {
        resource_id: op.resource_id.clone(),
        execution_id: op.execution_id.clone(),
        process_id: op.process_id.clone(),
        ttl: op.ttl,
        expires_at: now + op.ttl,
    }
}

async fn heartbeat(env: &Env, process: &str) -> usize {
    let reply = env.run(HeartbeatLocks { process_id: process.to_owned() }).await;
    let LocksAffected { locks_affected } = ok(reply, Code::Ok);
    locks_affected
}

async fn expire(env: &Env, limit: usize) -> ExpireReport {
    ok(env.run(ExpireLocks { limit }).await, Code::Ok)
}

/// Whether `execution` holds `resource`: acquiring it again as another execution is refused.
async fn holder_of(env: &Env, resource: &str) -> Option<String> {
    let probe = acquire(resource, "probe", "probe");
    match env.run(probe).await {
        Ok(_) => {
            ok(env.run(release(resource, "probe")).await, Code::NoContent);
            None
        }
        Err(e) => {
            assert_eq!(e.code, Code::LockAlreadyAcquired, "{e:?}");
            Some(e.message)
        }
    }
}

#[tokio::test]
async fn acquire_is_reentrant_and_lets_the_execution_switch_process() {
    each(ALL, |env| async move {
        let first = acquire("r", "e1", "p1");
        assert_eq!(ok(env.run(first.clone()).await, Code::Created), held(&first, T0));
        env.clock.set(T0 + 1_000);
        let again = AcquireLock { ttl: 20_000, ..first.clone() };
        assert_eq!(ok(env.run(again.clone()).await, Code::Created), held(&again, T0 + 1_000));
        let moved = acquire("r", "e1", "p2");
        assert_eq!(ok(env.run(moved.clone()).await, Code::Created), held(&moved, T0 + 1_000));
        // The lock now belongs to p2: p1's heartbeat touches nothing.
        assert_eq!(heartbeat(&env, "p1").await, 0);
        assert_eq!(heartbeat(&env, "p2").await, 1);
    })
    .await;
}

#[tokio::test]
async fn another_execution_is_refused_until_the_lock_expires() {
    each(ALL, |env| async move {
        ok(env.run(acquire("r", "e1", "p1")).await, Code::Created);
        for at in [T0, T0 + TTL - 1] {
            env.clock.set(at);
            let err = refused(env.run(acquire("r", "e2", "p1")).await, Code::LockAlreadyAcquired);
            assert!(err.message.contains("\"r\""), "message names the resource: {}", err.message);
        }
        // Unlike Resonate, an expired lock does not wait for the sweep to stop blocking.
        env.clock.set(T0 + TTL);
        let taken = acquire("r", "e2", "p2");
        assert_eq!(ok(env.run(taken.clone()).await, Code::Created), held(&taken, T0 + TTL));
        let err = refused(env.run(acquire("r", "e1", "p1")).await, Code::LockAlreadyAcquired);
        assert!(err.message.contains("another execution"), "{}", err.message);
        // e1 lost it: it can no longer release it.
        refused(env.run(release("r", "e1")).await, Code::LockNotFound);
    })
    .await;
}

#[tokio::test]
async fn release_needs_the_holding_execution() {
    each(ALL, |env| async move {
        let err = refused(env.run(release("r", "e1")).await, Code::LockNotFound);
        assert!(err.message.contains("\"r\"") && err.message.contains("\"e1\""), "{}", err.message);
        ok(env.run(acquire("r", "e1", "p1")).await, Code::Created);
        refused(env.run(release("r", "e2")).await, Code::LockNotFound);
        assert!(holder_of(&env, "r").await.is_some(), "a wrong release leaves the lock");
        assert_eq!(env.run(release("r", "e1")).await.map(|s| s.code), Ok(Code::NoContent));
        refused(env.run(release("r", "e1")).await, Code::LockNotFound);
        assert_eq!(holder_of(&env, "r").await, None);
        // An expired lock can still be released by its execution.
        ok(env.run(acquire("r", "e1", "p1")).await, Code::Created);
        env.clock.set(T0 + TTL * 2);
        ok(env.run(release("r", "e1")).await, Code::NoContent);
    })
    .await;
}

#[tokio::test]
async fn heartbeat_extends_the_live_locks_of_one_process() {
    each(ALL, |env| async move {
        // §15.3: three locks, two of process "a".
        ok(env.run(acquire("r1", "e1", "a")).await, Code::Created);
        ok(env.run(acquire("r2", "e2", "a")).await, Code::Created);
        ok(env.run(acquire("r3", "e3", "b")).await, Code::Created);
        let short = AcquireLock { ttl: 100, ..acquire("r4", "e4", "a") };
        ok(env.run(short).await, Code::Created);
        env.clock.set(T0 + 5_000);
        assert_eq!(heartbeat(&env, "a").await, 2, "the expired r4 is not revived");
        assert_eq!(heartbeat(&env, "unknown").await, 0);
        // r1 and r2 now last until T0 + 5 000 + TTL; r3 still expires at T0 + TTL.
        env.clock.set(T0 + TTL);
        let report = expire(&env, 10).await;
        let mut expired: Vec<&str> =
            report.expired.iter().map(|l| l.resource_id.as_str()).collect();
        expired.sort();
        assert_eq!(expired, ["r3", "r4"]);
        assert_eq!(report.next_expiry, Some(T0 + 5_000 + TTL));
        assert!(holder_of(&env, "r1").await.is_some());
        assert!(holder_of(&env, "r2").await.is_some());
    })
    .await;
}

#[tokio::test]
async fn expire_deletes_expired_locks_earliest_first_up_to_the_limit() {
    each(ALL, |env| async move {
        for (resource, ttl) in [("c", 30), ("a", 10), ("b", 20), ("far", 1_000)] {
            let op = AcquireLock { ttl, ..acquire(resource, "e", "p") };
            ok(env.run(op).await, Code::Created);
        }
        let report = expire(&env, 10).await;
        assert!(report.expired.is_empty(), "{report:?}");
        assert_eq!(report.next_expiry, Some(T0 + 10));
        env.clock.set(T0 + 30);
        let report = expire(&env, 0).await;
        assert!(report.expired.is_empty(), "limit 0 deletes nothing");
        let report = expire(&env, 2).await;
        let names: Vec<&str> = report.expired.iter().map(|l| l.resource_id.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(report.expired[0].expires_at, T0 + 10);
        assert_eq!(report.next_expiry, Some(T0 + 30));
        let report = expire(&env, 2).await;
        assert_eq!(report.expired.len(), 1);
        assert_eq!(report.next_expiry, Some(T0 + 1_000));
        // Expired locks are gone: their execution cannot release them any more.
        refused(env.run(release("a", "e")).await, Code::LockNotFound);
        ok(env.run(release("far", "e")).await, Code::NoContent);
        assert_eq!(expire(&env, 2).await.next_expiry, None);
    })
    .await;
}

#[tokio::test]
async fn a_ttl_at_the_end_of_time_saturates() {
    each(ALL, |env| async move {
        let forever = AcquireLock { ttl: i64::MAX, ..acquire("r", "e", "p") };
        assert_eq!(ok(env.run(forever).await, Code::Created).expires_at, i64::MAX);
        assert_eq!(heartbeat(&env, "p").await, 1);
        let report = expire(&env, 10).await;
        assert_eq!(report.next_expiry, Some(i64::MAX));
        let zero = AcquireLock { ttl: 0, ..acquire("z", "e", "p") };
        assert_eq!(ok(env.run(zero).await, Code::Created).expires_at, T0, "expired at once");
        ok(env.run(acquire("z", "other", "p")).await, Code::Created);
    })
    .await;
}

#[tokio::test]
async fn invalid_lock_requests_are_bad_requests_that_name_the_field() {
    let rows: Vec<(String, (AcquireLock, &str))> = vec![
        ("no resource".into(), (acquire("", "e", "p"), "resourceId")),
        ("no execution".into(), (acquire("r", "", "p"), "executionId")),
        ("no process".into(), (acquire("r", "e", ""), "processId")),
        ("negative ttl".into(), (AcquireLock { ttl: -1, ..acquire("r", "e", "p") }, "ttl")),
    ];
    table(ALL, rows, |env, (op, field)| async move {
        let err = refused(env.run(op).await, Code::BadRequest);
        assert!(err.message.contains(field), "{field} not in {:?}", err.message);
        assert_eq!(holder_of(&env, "r").await, None, "nothing was locked");
        let err = refused(env.run(release("", "e")).await, Code::BadRequest);
        assert!(err.message.contains("resourceId"), "{}", err.message);
        let err = refused(env.run(release("r", "")).await, Code::BadRequest);
        assert!(err.message.contains("executionId"), "{}", err.message);
        let err =
            refused(env.run(HeartbeatLocks { process_id: String::new() }).await, Code::BadRequest);
        assert!(err.message.contains("processId"), "{}", err.message);
    })
    .await;
}

/// Takes, replaces, deletes and extends locks, then fails as a broken backend would.
#[derive(Clone)]
struct LockWritesThenFail;

impl Operation for LockWritesThenFail {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<()>, TxError> {
        assert!(acquire("new", "e", "p").apply(tx, now)?.is_ok());
        assert!(acquire("kept", "e1", "moved").apply(tx, now)?.is_ok());
        assert!(release("gone", "e2").apply(tx, now)?.is_ok());
        assert!(HeartbeatLocks { process_id: "p".into() }.apply(tx, now)?.is_ok());
        Err(TxError::msg("injected failure"))
    }
}

#[tokio::test]
async fn a_failed_operation_leaves_locks_as_they_were() {
    each(ALL, |env| async move {
        ok(env.run(acquire("kept", "e1", "p")).await, Code::Created);
        ok(env.run(acquire("gone", "e2", "p")).await, Code::Created);
        env.clock.set(T0 + 1_000);
        let reply = env.store.run(LockWritesThenFail).await;
        assert!(matches!(reply, Err(StoreError::Tx(_))), "{reply:?}");
        assert_eq!(holder_of(&env, "new").await, None);
        assert_eq!(heartbeat(&env, "moved").await, 0, "kept was not moved");
        // Both locks are still there, with their first expiry.
        env.clock.set(T0 + TTL);
        let report = expire(&env, 10).await;
        let mut names: Vec<&str> = report.expired.iter().map(|l| l.resource_id.as_str()).collect();
        names.sort();
        assert_eq!(names, ["gone", "kept"]);
        assert!(report.expired.iter().all(|l| l.expires_at == T0 + TTL && l.process_id == "p"));
    })
    .await;
}
