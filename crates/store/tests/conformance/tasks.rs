//! Tasks, callbacks and subscriptions (spec §8–§9, the §15.3 store cases): invoke tasks from
//! tags, createtask, callbacks becoming tasks when a promise completes, claim/complete/drop/
//! heartbeat with counters, and the background delivery and timeout steps. Every backend.

use natsapi_core::promises::{CreatePromise, CreatePromiseAndTask};
use natsapi_core::task::INVOKE_TAG;
use natsapi_core::tasks::{
    ClaimTask, CompleteTask, CreateCallback, CreateSubscription, Delivered, DropTask,
    HeartbeatTasks, RecordDeliveries, TIME_TO_CLAIM_MS, TIME_TO_RETRY_MS, TakeDeliveries,
    TimeoutTasks,
};
use natsapi_core::{
    Clock, Code, MessageKind, Operation, PromiseState, Reply, Success, Task, TaskState, Tx, TxError,
};

use crate::fixtures::{DEADLINE, T0};
use crate::harness::{ALL, Env, complete, create, each, map, ok, refused};

/// Reads a task as stored.
#[derive(Clone)]
struct PeekTask(String);

impl Operation for PeekTask {
    type Output = Option<Task>;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Option<Task>>, TxError> {
        Ok(Ok(Success::ok(tx.task(&self.0)?)))
    }
}

impl Env {
    async fn task(&self, id: &str) -> Task {
        ok(self.run(PeekTask(id.to_owned())).await, Code::Ok)
            .unwrap_or_else(|| panic!("task {id:?} does not exist"))
    }

    async fn no_task(&self, id: &str) {
        assert_eq!(ok(self.run(PeekTask(id.to_owned())).await, Code::Ok), None, "task {id:?}");
    }

    /// Creates `id` tagged for invocation at `recv`.
    async fn invoked(&self, id: &str) {
        let mut op = create(id);
        op.tags = map(&[(INVOKE_TAG, "nats://workers")]);
        ok(self.run(op).await, Code::Created);
    }

    /// Delivers every deliverable task and reports each as taken.
    async fn deliver_all(&self) -> Vec<Task> {
        let picked = ok(self.run(TakeDeliveries { limit: 100 }).await, Code::Ok);
        let tasks: Vec<Task> = picked.deliver.into_iter().map(|d| d.task).collect();
        let sent_at = self.clock.now_ms();
        let outcomes = tasks.iter().map(|t| Delivered {
            id: t.id.clone(),
            counter: t.counter,
            ok: true,
            sent_at,
        });
        ok(self.run(RecordDeliveries { outcomes: outcomes.collect() }).await, Code::Ok);
        tasks
    }

    async fn claim(&self, id: &str, counter: i64) -> Reply<natsapi_core::tasks::Claimed> {
        self.run(ClaimTask { id: id.into(), counter, process_id: "w1".into(), ttl: 10_000 }).await
    }

    async fn callback(&self, leaf: &str, root: &str) -> Reply<natsapi_core::tasks::Registered> {
        self.run(CreateCallback {
            promise_id: leaf.into(),
            root_promise_id: root.into(),
            recv: "\"nats://resume\"".into(),
            timeout: None,
            head: Default::default(),
        })
        .await
    }
}

#[tokio::test]
async fn an_invoke_tag_creates_an_init_task_and_no_tag_creates_none() {
    each(ALL, |env| async move {
        env.invoked("p").await;
        let task = env.task("__invoke:p").await;
        assert_eq!((task.state, task.counter, task.timeout), (TaskState::Init, 1, DEADLINE));
        assert_eq!(
            (task.mesg.kind, task.recv.as_str()),
            (MessageKind::Invoke, "\"nats://workers\"")
        );
        ok(env.run(create("plain")).await, Code::Created);
        env.no_task("__invoke:plain").await;
        // A replayed create adds nothing.
        let mut again = create("p");
        again.tags = map(&[(INVOKE_TAG, "nats://workers")]);
        refused(env.run(again).await, Code::PromiseAlreadyExists);
    })
    .await;
}

#[tokio::test]
async fn a_bad_delay_tag_refuses_the_create_and_writes_nothing() {
    each(ALL, |env| async move {
        let mut op = create("p");
        op.tags = map(&[(INVOKE_TAG, "x"), ("resonate:delay", "soon")]);
        let e = refused(env.run(op).await, Code::BadRequest);
        assert!(e.message.contains("resonate:delay"), "{}", e.message);
        refused(env.read("p").await, Code::PromiseNotFound);
    })
    .await;
}

fn create_task(id: &str, ttl: i64) -> CreatePromiseAndTask {
    let mut promise: CreatePromise = create(id);
    promise.tags = map(&[(INVOKE_TAG, "default")]);
    CreatePromiseAndTask { promise, process_id: "w1".into(), ttl, head: Default::default() }
}

#[tokio::test]
async fn createtask_makes_the_promise_and_a_claimed_task_once() {
    each(ALL, |env| async move {
        let done = ok(env.run(create_task("p", 5_000)).await, Code::Created);
        let task = done.task.expect("a task");
        assert_eq!((task.state, task.counter), (TaskState::Claimed, 1));
        assert_eq!((task.process_id.as_deref(), task.expires_at), (Some("w1"), T0 + 5_000));
        // The promise exists now: 409 without a key, and no second task.
        refused(env.run(create_task("p", 5_000)).await, Code::PromiseAlreadyExists);
        let mut untagged = create_task("q", 1);
        untagged.promise.tags.clear();
        assert_eq!(ok(env.run(untagged).await, Code::Created).task, None);
        refused(env.run(create_task("r", -1)).await, Code::BadRequest);
    })
    .await;
}

#[tokio::test]
async fn callbacks_follow_the_spec_table() {
    each(ALL, |env| async move {
        refused(env.callback("p", "p").await, Code::BadRequest);
        refused(env.callback("missing", "root").await, Code::PromiseNotFound);
        ok(env.run(create("leaf")).await, Code::Created);
        ok(env.run(create("root")).await, Code::Created);
        let first = ok(env.callback("leaf", "root").await, Code::Created);
        assert_eq!(first.callback.expect("registered").id, "__resume:root:leaf");
        assert_eq!(ok(env.callback("leaf", "root").await, Code::Ok).callback, None);
        ok(env.run(create("done")).await, Code::Created);
        ok(env.run(complete("done", PromiseState::Resolved)).await, Code::Created);
        let late = ok(env.callback("done", "root").await, Code::Ok);
        assert_eq!((late.callback, late.promise.state), (None, PromiseState::Resolved));
    })
    .await;
}

#[tokio::test]
async fn completing_a_promise_turns_its_callbacks_into_tasks_and_ends_its_own_tasks() {
    each(ALL, |env| async move {
        env.invoked("root").await;
        ok(env.run(create("leaf")).await, Code::Created);
        ok(env.callback("leaf", "root").await, Code::Created);
        let subscribe = CreateSubscription {
            promise_id: "leaf".into(),
            id: "s1".into(),
            recv: "\"nats://watch\"".into(),
            timeout: None,
            head: Default::default(),
        };
        ok(env.run(subscribe).await, Code::Created);
        env.clock.set(T0 + 100);
        ok(env.run(complete("leaf", PromiseState::Resolved)).await, Code::Created);
        let resume = env.task("__resume:root:leaf").await;
        assert_eq!((resume.state, resume.counter), (TaskState::Init, 1));
        assert_eq!((resume.root_promise_id.as_str(), resume.timeout), ("root", DEADLINE));
        assert_eq!(resume.mesg.kind, MessageKind::Resume);
        let notify = env.task("__notify:leaf:s1").await;
        assert_eq!(
            (notify.mesg.kind, notify.root_promise_id.as_str()),
            (MessageKind::Notify, "leaf")
        );
        // The callbacks are gone: a second completion path has nothing left to fire.
        assert_eq!(ok(env.callback("leaf", "root").await, Code::Ok).callback, None);
        // Completing the root ends every live task of its execution.
        ok(env.run(complete("root", PromiseState::Resolved)).await, Code::Created);
        assert_eq!(env.task("__invoke:root").await.state, TaskState::Completed);
        assert_eq!(env.task("__resume:root:leaf").await.state, TaskState::Completed);
    })
    .await;
}

#[tokio::test]
async fn a_promise_that_times_out_fires_its_callbacks_too() {
    each(ALL, |env| async move {
        ok(env.run(create("root")).await, Code::Created);
        let mut leaf = create("leaf");
        leaf.timeout = T0 + 50;
        ok(env.run(leaf).await, Code::Created);
        ok(env.callback("leaf", "root").await, Code::Created);
        env.clock.set(T0 + 60);
        ok(env.run(natsapi_core::promises::TimeoutPromises { limit: 10 }).await, Code::Ok);
        assert_eq!(env.task("__resume:root:leaf").await.created_on, T0 + 50);
    })
    .await;
}

#[tokio::test]
async fn claim_follows_the_spec_table() {
    each(ALL, |env| async move {
        refused(env.claim("nope", 1).await, Code::TaskNotFound);
        env.invoked("p").await;
        refused(env.claim("__invoke:p", 2).await, Code::TaskInvalidCounter);
        // An INIT task can be claimed directly.
        let claimed = ok(env.claim("__invoke:p", 1).await, Code::Created);
        assert_eq!(
            (claimed.kind, claimed.root.id.as_str(), claimed.leaf),
            (MessageKind::Invoke, "p", None)
        );
        assert_eq!(
            (claimed.task.state, claimed.task.expires_at),
            (TaskState::Claimed, T0 + 10_000)
        );
        refused(env.claim("__invoke:p", 1).await, Code::TaskAlreadyClaimed);
        ok(env.run(CompleteTask { id: "__invoke:p".into(), counter: 1 }).await, Code::Created);
        refused(env.claim("__invoke:p", 1).await, Code::TaskAlreadyCompleted);
    })
    .await;
}

#[tokio::test]
async fn claiming_a_resume_task_returns_the_root_and_the_leaf() {
    each(ALL, |env| async move {
        ok(env.run(create("root")).await, Code::Created);
        ok(env.run(create("leaf")).await, Code::Created);
        ok(env.callback("leaf", "root").await, Code::Created);
        ok(env.run(complete("leaf", PromiseState::Resolved)).await, Code::Created);
        let claimed = ok(env.claim("__resume:root:leaf", 1).await, Code::Created);
        assert_eq!(claimed.kind, MessageKind::Resume);
        assert_eq!(claimed.root.id, "root");
        assert_eq!(
            claimed.leaf.map(|l| (l.id, l.state)),
            Some(("leaf".into(), PromiseState::Resolved))
        );
    })
    .await;
}

#[tokio::test]
async fn complete_and_drop_follow_the_spec_tables() {
    each(ALL, |env| async move {
        refused(env.run(CompleteTask { id: "nope".into(), counter: 1 }).await, Code::TaskNotFound);
        refused(env.run(DropTask { id: "nope".into(), counter: 1 }).await, Code::TaskNotFound);
        env.invoked("p").await;
        let id = "__invoke:p";
        refused(env.run(CompleteTask { id: id.into(), counter: 1 }).await, Code::TaskInvalidState);
        ok(env.run(DropTask { id: id.into(), counter: 1 }).await, Code::Ok);
        ok(env.claim(id, 1).await, Code::Created);
        refused(env.run(DropTask { id: id.into(), counter: 9 }).await, Code::TaskInvalidCounter);
        ok(env.run(DropTask { id: id.into(), counter: 1 }).await, Code::Created);
        let dropped = env.task(id).await;
        assert_eq!(
            (dropped.state, dropped.counter, dropped.process_id),
            (TaskState::Init, 2, None)
        );
        ok(env.claim(id, 2).await, Code::Created);
        refused(
            env.run(CompleteTask { id: id.into(), counter: 1 }).await,
            Code::TaskInvalidCounter,
        );
        let done = ok(env.run(CompleteTask { id: id.into(), counter: 2 }).await, Code::Created);
        assert_eq!((done.state, done.completed_on), (TaskState::Completed, Some(T0)));
        ok(env.run(CompleteTask { id: id.into(), counter: 2 }).await, Code::Ok);
        ok(env.run(DropTask { id: id.into(), counter: 2 }).await, Code::Ok);
    })
    .await;
}

#[tokio::test]
async fn heartbeat_extends_only_the_claims_of_its_process() {
    each(ALL, |env| async move {
        for id in ["a", "b", "c"] {
            env.invoked(id).await;
        }
        ok(env.claim("__invoke:a", 1).await, Code::Created);
        ok(env.claim("__invoke:b", 1).await, Code::Created);
        env.clock.set(T0 + 5_000);
        let beat = HeartbeatTasks { process_id: "w1".into() };
        assert_eq!(ok(env.run(beat).await, Code::Ok).tasks_affected, 2);
        assert_eq!(env.task("__invoke:a").await.expires_at, T0 + 15_000);
        assert_eq!(env.task("__invoke:c").await.expires_at, 0);
        let other = HeartbeatTasks { process_id: "nobody".into() };
        assert_eq!(ok(env.run(other).await, Code::Ok).tasks_affected, 0);
    })
    .await;
}

#[tokio::test]
async fn one_task_per_execution_is_delivered_at_a_time() {
    each(ALL, |env| async move {
        // Three resume tasks on each of two roots (spec §15.3 ReadEnqueueableTasks).
        for root in ["ra", "rb"] {
            ok(env.run(create(root)).await, Code::Created);
            for leaf in 0..3 {
                let leaf = format!("{root}-{leaf}");
                ok(env.run(create(&leaf)).await, Code::Created);
                ok(env.callback(&leaf, root).await, Code::Created);
                ok(env.run(complete(&leaf, PromiseState::Resolved)).await, Code::Created);
            }
        }
        let first: Vec<String> = env.deliver_all().await.into_iter().map(|t| t.id).collect();
        assert_eq!(first, ["__resume:ra:ra-0", "__resume:rb:rb-0"]);
        // Both roots now have a task out: nothing else goes until one is done.
        assert!(env.deliver_all().await.is_empty());
        ok(env.claim("__resume:ra:ra-0", 1).await, Code::Created);
        ok(
            env.run(CompleteTask { id: "__resume:ra:ra-0".into(), counter: 1 }).await,
            Code::Created,
        );
        let next: Vec<String> = env.deliver_all().await.into_iter().map(|t| t.id).collect();
        assert_eq!(next, ["__resume:ra:ra-1"]);
    })
    .await;
}

#[tokio::test]
async fn deliveries_are_recorded_and_windows_that_end_revoke_or_time_out() {
    each(ALL, |env| async move {
        env.invoked("p").await;
        let id = "__invoke:p";
        let picked = ok(env.run(TakeDeliveries { limit: 10 }).await, Code::Ok);
        assert_eq!(picked.deliver.len(), 1);
        // While its delivery is in flight it is not picked again.
        assert!(ok(env.run(TakeDeliveries { limit: 10 }).await, Code::Ok).deliver.is_empty());
        let failed = Delivered { id: id.into(), counter: 1, ok: false, sent_at: T0 };
        ok(env.run(RecordDeliveries { outcomes: vec![failed] }).await, Code::Ok);
        let task = env.task(id).await;
        assert_eq!(
            (task.state, task.attempt, task.expires_at),
            (TaskState::Init, 1, T0 + TIME_TO_RETRY_MS)
        );
        env.clock.set(T0 + TIME_TO_RETRY_MS);
        assert_eq!(env.deliver_all().await.len(), 1);
        let task = env.task(id).await;
        assert_eq!(
            (task.state, task.expires_at),
            (TaskState::Enqueued, T0 + TIME_TO_RETRY_MS + TIME_TO_CLAIM_MS)
        );
        // Not claimed in time: back to INIT under the next counter.
        env.clock.set(task.expires_at);
        let report = ok(env.run(TimeoutTasks { limit: 10 }).await, Code::Ok);
        assert_eq!((report.revoked, report.timed_out), (1, 0));
        assert_eq!(env.task(id).await.counter, 2);
        // A stale outcome (old counter) changes nothing.
        let stale = Delivered { id: id.into(), counter: 1, ok: true, sent_at: env.clock.now_ms() };
        ok(env.run(RecordDeliveries { outcomes: vec![stale] }).await, Code::Ok);
        assert_eq!(env.task(id).await.state, TaskState::Init);
        // A claimed task whose lease ends goes back too; one past its deadline times out.
        ok(env.claim(id, 2).await, Code::Created);
        env.clock.set(DEADLINE);
        let report = ok(env.run(TimeoutTasks { limit: 10 }).await, Code::Ok);
        assert_eq!((report.revoked, report.timed_out), (0, 1));
        assert_eq!(env.task(id).await.state, TaskState::Timedout);
    })
    .await;
}

#[tokio::test]
async fn finished_executions_are_not_delivered_and_notifies_go_once() {
    each(ALL, |env| async move {
        env.invoked("p").await;
        // The root completed before its invoke went out: completed, never delivered.
        ok(env.run(complete("p", PromiseState::Resolved)).await, Code::Created);
        assert_eq!(env.task("__invoke:p").await.state, TaskState::Completed);
        assert!(env.deliver_all().await.is_empty());
        ok(env.run(create("w")).await, Code::Created);
        let subscribe = CreateSubscription {
            promise_id: "w".into(),
            id: "s".into(),
            recv: "\"nats://watch\"".into(),
            timeout: None,
            head: Default::default(),
        };
        ok(env.run(subscribe).await, Code::Created);
        ok(env.run(complete("w", PromiseState::Rejected)).await, Code::Created);
        let picked = ok(env.run(TakeDeliveries { limit: 10 }).await, Code::Ok);
        let notify = &picked.deliver[0];
        assert_eq!(notify.promise.as_ref().map(|p| p.state), Some(PromiseState::Rejected));
        // Best effort: completed as it is handed out, whatever the delivery does.
        assert_eq!(env.task("__notify:w:s").await.state, TaskState::Completed);
    })
    .await;
}

#[tokio::test]
async fn a_fence_holds_only_for_a_task_claimed_at_that_counter() {
    use natsapi_core::fence::{Fence, Fenced};
    each(ALL, |env| async move {
        let fenced = |id: &str, task: &str, counter: i64| Fenced {
            fence: Some(Fence { task_id: task.into(), counter }),
            op: create(id),
        };
        // No such task, and an INIT task: the fence does not hold (spec §15.3).
        refused(env.run(fenced("a", "nope", 1)).await, Code::TaskPreconditionFailed);
        env.invoked("p").await;
        refused(env.run(fenced("a", "__invoke:p", 1)).await, Code::TaskPreconditionFailed);
        ok(env.claim("__invoke:p", 1).await, Code::Created);
        refused(env.run(fenced("a", "__invoke:p", 2)).await, Code::TaskPreconditionFailed);
        refused(env.read("a").await, Code::PromiseNotFound);
        ok(env.run(fenced("a", "__invoke:p", 1)).await, Code::Created);
        // No fence: the operation runs as it is.
        ok(env.run(Fenced { fence: None, op: create("b") }).await, Code::Created);
    })
    .await;
}

#[tokio::test]
async fn a_delivery_recorded_late_keeps_the_claim_window_from_its_send() {
    each(ALL, |env| async move {
        env.invoked("p").await;
        let picked = ok(env.run(TakeDeliveries { limit: 10 }).await, Code::Ok);
        let task = &picked.deliver[0].task;
        // The worker got the message at T0; the outcome is recorded 30 s later.
        env.clock.set(T0 + 30_000);
        let sent = Delivered { id: task.id.clone(), counter: task.counter, ok: true, sent_at: T0 };
        ok(env.run(RecordDeliveries { outcomes: vec![sent] }).await, Code::Ok);
        let task = env.task(&task.id).await;
        assert_eq!((task.state, task.expires_at), (TaskState::Enqueued, T0 + TIME_TO_CLAIM_MS));
    })
    .await;
}
