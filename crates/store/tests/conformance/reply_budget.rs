//! Reply budgets (`natsapi_core::reply`): an operation whose answer would not fit its budget is
//! refused and leaves nothing behind, also beside other operations committed in the same group;
//! promises stay small enough that a claim carrying two of them fits. Every backend.

use futures::future::join_all;
use natsapi_core::promises::encoded_len;
use natsapi_core::schedules::{CreateSchedule, ReadSchedule};
use natsapi_core::tasks::{ClaimTask, Claimed, CreateCallback, claimed_len};
use natsapi_core::{Budgeted, Code, Promise, PromiseState, Reply, ReplyBudget, Value};

use crate::fixtures::T0;
use crate::harness::{ALL, Env, complete, create, each, ok, pending, refused};

/// The budget of these cases: a few KiB, so promises of a few KiB reach it.
const BUDGET: usize = 4_096;

fn within<O>(op: O, max_bytes: usize) -> Budgeted<O> {
    Budgeted { op, budget: ReplyBudget::new(max_bytes) }
}

fn bytes(len: usize) -> Value {
    Value { headers: Default::default(), data: vec![7; len] }
}

impl Env {
    /// Claims the resume task of `root` waiting on `leaf` at counter 1 within `max_bytes`.
    async fn claim_within(&self, root: &str, leaf: &str, max_bytes: usize) -> Reply<Claimed> {
        let claim = ClaimTask {
            id: format!("__resume:{root}:{leaf}"),
            counter: 1,
            process_id: "w1".into(),
            ttl: 10_000,
        };
        self.run(within(claim, max_bytes)).await
    }

    /// A root with `param`, and a leaf with `param` completed with `value` whose completion
    /// made a resume task for the root (all stored without a budget, as an older version or a
    /// larger NATS max payload would have).
    async fn resumable(&self, root: &str, leaf: &str, param: usize, value: usize) {
        let mut op = create(root);
        op.param = bytes(param);
        ok(self.run(op).await, Code::Created);
        let mut op = create(leaf);
        op.param = bytes(param);
        ok(self.run(op).await, Code::Created);
        let callback = CreateCallback {
            promise_id: leaf.into(),
            root_promise_id: root.into(),
            recv: "\"nats://resume\"".into(),
            timeout: None,
            head: Default::default(),
        };
        ok(self.run(callback).await, Code::Created);
        let mut op = complete(leaf, PromiseState::Resolved);
        op.value = bytes(value);
        ok(self.run(op).await, Code::Created);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_answer_does_not_fit_is_refused_and_leaves_the_task_unclaimed() {
    each(ALL, |env| async move {
        env.resumable("root", "leaf", 1_200, 1_200).await;
        // Refused beside creates in flight: they commit, the claim does not.
        let creates = (0..16).map(|i| env.run(within(create(&format!("n{i}")), BUDGET)));
        let (refusal, created) =
            futures::join!(env.claim_within("root", "leaf", BUDGET), join_all(creates));
        let e = refused(refusal, Code::BadRequest);
        assert!(e.message.contains(&format!("over the {BUDGET} bytes")), "{}", e.message);
        for reply in created {
            ok(reply, Code::Created);
        }
        for i in 0..16 {
            env.get(&format!("n{i}")).await;
        }
        // Nothing was claimed: a retry gets the same answer, not "already claimed".
        let again = refused(env.claim_within("root", "leaf", BUDGET).await, Code::BadRequest);
        assert_eq!(again.message, e.message);
        // Where the answer fits (a larger NATS max payload), the same claim goes through.
        let claimed = ok(env.claim_within("root", "leaf", 4 * BUDGET).await, Code::Created);
        assert_eq!(claimed.leaf.map(|p| p.id).as_deref(), Some("leaf"));
    })
    .await;
}

/// The largest `n` for which `promise_with(n)` takes at most `limit` bytes in a claim.
fn largest_fitting(limit: usize, promise_with: impl Fn(usize) -> Promise) -> usize {
    (0..limit).rev().find(|&n| claimed_len(&promise_with(n)) <= limit).expect("some size fits")
}

#[tokio::test]
async fn promises_stay_small_enough_for_a_claim_to_carry_two() {
    each(ALL, |env| async move {
        let budget = ReplyBudget::new(BUDGET);
        let limit = budget.max_promise_bytes();
        let root_with = |n: usize| Promise { param: bytes(n), ..pending("root", T0) };
        let param = largest_fitting(limit, root_with);

        // One byte more than fits: refused, and the id stays free.
        let mut op = create("root");
        op.param = bytes(param + 1);
        let e = refused(env.run(within(op, BUDGET)).await, Code::BadRequest);
        assert!(e.message.contains(&format!("at most {limit}")), "{}", e.message);
        refused(env.read("root").await, Code::PromiseNotFound);
        let mut op = create("root");
        op.param = bytes(param);
        ok(env.run(within(op, BUDGET)).await, Code::Created);

        // The leaf: its param is small, its value as large as fits beside it.
        let mut op = create("leaf");
        op.param = bytes(10);
        ok(env.run(within(op, BUDGET)).await, Code::Created);
        let callback = CreateCallback {
            promise_id: "leaf".into(),
            root_promise_id: "root".into(),
            recv: "\"nats://resume\"".into(),
            timeout: None,
            head: Default::default(),
        };
        ok(env.run(within(callback, BUDGET)).await, Code::Created);
        let leaf_with = |n: usize| Promise {
            state: PromiseState::Resolved,
            param: bytes(10),
            value: bytes(n),
            completed_on: Some(T0),
            ..pending("leaf", T0)
        };
        let value = largest_fitting(limit, leaf_with);
        let mut op = complete("leaf", PromiseState::Resolved);
        op.value = bytes(value + 1);
        let e = refused(env.run(within(op, BUDGET)).await, Code::BadRequest);
        assert!(e.message.contains("\"leaf\""), "{}", e.message);
        assert_eq!(env.get("leaf").await.state, PromiseState::Pending, "the complete was undone");
        let mut op = complete("leaf", PromiseState::Resolved);
        op.value = bytes(value);
        ok(env.run(within(op, BUDGET)).await, Code::Created);

        // Both promises as large as allowed: their claim still fits, with little to spare.
        let claimed = ok(env.claim_within("root", "leaf", BUDGET).await, Code::Created);
        let len = encoded_len(&claimed);
        assert!(len <= BUDGET && len > BUDGET - 16, "a claim of {len} bytes");
    })
    .await;
}

#[tokio::test]
async fn a_schedule_whose_promises_would_not_fit_is_refused() {
    each(ALL, |env| async move {
        let schedule = |param: usize| CreateSchedule {
            id: "s".into(),
            description: String::new(),
            cron: "@every 1m".into(),
            tags: Default::default(),
            promise_id: "s.{{.timestamp}}".into(),
            promise_timeout: 60_000,
            promise_param: bytes(param),
            promise_tags: Default::default(),
            idempotency_key: None,
        };
        let e = refused(env.run(within(schedule(BUDGET / 2), BUDGET)).await, Code::BadRequest);
        assert!(e.message.starts_with("the promises of this schedule: "), "{}", e.message);
        refused(env.run(ReadSchedule { id: "s".into() }).await, Code::ScheduleNotFound);
        ok(env.run(within(schedule(BUDGET / 4), BUDGET)).await, Code::Created);
    })
    .await;
}

/// The claim's JSON is the Resonate server's, and its length what the budget counts.
#[tokio::test]
async fn a_claims_length_is_its_frame_and_its_two_promises() {
    each(ALL, |env| async move {
        env.resumable("r", "l", 30, 40).await;
        let claimed = ok(env.claim_within("r", "l", BUDGET).await, Code::Created);
        let json = serde_json::to_value(&claimed).expect("JSON");
        assert_eq!(json["type"], "resume");
        assert_eq!(json["promises"]["root"]["id"], "r");
        assert_eq!(json["promises"]["leaf"]["data"]["id"], "l");
        let leaf = claimed.leaf.as_ref().expect("a leaf");
        assert_eq!(
            encoded_len(&claimed),
            natsapi_core::tasks::CLAIM_FRAME_LEN + claimed_len(&claimed.root) + claimed_len(leaf)
        );
    })
    .await;
}
