//! Task and callback operations with the decision tables of the Resonate v0.7 server (spec
//! §8–§9): callbacks and subscriptions, claim/complete/drop/heartbeat with counters, the effects
//! of completing a promise, and the background work that delivers and times out tasks.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::code::Code;
use crate::error::{DomainError, Reply, Success, TxError, quoted, require};
use crate::operation::Operation;
use crate::promise::{Promise, PromiseState};
use crate::reply::Answer;
use crate::task::{Callback, DELAY_TAG, INVOKE_TAG, Message, MessageKind, Task, TaskState};
use crate::time::deadline_from;
use crate::tx::Tx;

/// How long an ENQUEUED task waits to be claimed before it is delivered again, ms.
pub const TIME_TO_CLAIM_MS: i64 = 60_000;

/// How long after a failed delivery it is tried again, ms (also the window a delivery in flight
/// has before the task may be picked again).
pub const TIME_TO_RETRY_MS: i64 = 15_000;

/// The lease a claim gets when it names none, ms.
pub const DEFAULT_CLAIM_TTL_MS: i64 = 60_000;

fn task_not_found(id: &str) -> DomainError {
    DomainError::new(Code::TaskNotFound, format!("task {} not found", quoted(id)))
}

fn promise_not_found(id: &str) -> DomainError {
    DomainError::new(Code::PromiseNotFound, format!("promise {} not found", quoted(id)))
}

fn invalid_counter(task: &Task, counter: i64) -> DomainError {
    DomainError::new(
        Code::TaskInvalidCounter,
        format!("task {} is at counter {}, not {counter}", quoted(&task.id), task.counter),
    )
}

/// The receiver a `resonate:invoke` tag names, as JSON text: a JSON object stays as it is, any
/// other value is the receiver's name or URL.
pub fn recv_from_tag(value: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(object @ serde_json::Value::Object(_)) => object.to_string(),
        _ => serde_json::Value::String(value.to_owned()).to_string(),
    }
}

/// The invoke task a new promise asks for with its `resonate:invoke` tag, if any (INIT, held
/// back until `resonate:delay` when that tag is set), its message carrying `head`.
pub fn invoke_task(
    promise: &Promise,
    now: i64,
    head: BTreeMap<String, String>,
) -> Result<Option<Task>, DomainError> {
    let Some(recv) = promise.tags.get(INVOKE_TAG) else { return Ok(None) };
    let delay = match promise.tags.get(DELAY_TAG) {
        None => 0,
        Some(text) => text.parse::<i64>().map_err(|_| {
            DomainError::bad_request(format!(
                "tags.{DELAY_TAG} must be an epoch time in milliseconds, not {}",
                quoted(text)
            ))
        })?,
    };
    let mesg = Message {
        kind: MessageKind::Invoke,
        root: promise.id.clone(),
        leaf: promise.id.clone(),
        head,
    };
    let mut task =
        Task::new(Task::invoke_id(&promise.id), promise.id.clone(), recv_from_tag(recv), mesg, now);
    task.timeout = promise.timeout;
    task.expires_at = delay.max(0);
    Ok(Some(task))
}

/// What completing `promise` (explicitly or by timeout) does besides storing it, in the same
/// transaction (spec §8): its execution's live tasks are completed, and every callback and
/// subscription waiting on it becomes a resume or notify task.
pub fn settle_waiters(tx: &mut dyn Tx, promise: &Promise) -> Result<(), TxError> {
    let when = promise.completed_on.unwrap_or(promise.timeout);
    for mut task in tx.active_tasks_of_root(&promise.id)? {
        task.finish(TaskState::Completed, when);
        tx.update_task(&task)?;
    }
    for callback in tx.take_callbacks(&promise.id)? {
        // A task with this id exists only if the same callback fired before, which a completed
        // promise cannot do twice: nothing to add then.
        tx.insert_task(&mut callback.into_task(when))?;
    }
    Ok(())
}

/// The answer to a callback or subscription: the registration (absent when nothing new was
/// registered) and the promise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registered {
    /// The new callback or subscription.
    pub callback: Option<Callback>,
    /// The promise it waits on.
    pub promise: Promise,
}

/// Registers `callback` on its promise (spec §8): 404 when the promise is absent, 200 without a
/// registration when it is already completed or the id exists, 201 otherwise. A pending promise
/// past its deadline still accepts it: the timeout turns it into a task.
fn register(tx: &mut dyn Tx, callback: Callback) -> Result<Reply<Registered>, TxError> {
    let Some(promise) = tx.promise(&callback.promise_id)? else {
        return Ok(Err(promise_not_found(&callback.promise_id)));
    };
    if promise.state != PromiseState::Pending || !tx.insert_callback(&callback)? {
        return Ok(Ok(Success::ok(Registered { callback: None, promise })));
    }
    Ok(Ok(Success::created(Registered { callback: Some(callback), promise })))
}

/// `promises.callback`: resume the execution rooted at `root_promise_id` when `promise_id`
/// completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCallback {
    /// The promise to wait on (the leaf).
    pub promise_id: String,
    /// The execution to resume.
    pub root_promise_id: String,
    /// Where the resume task goes (JSON text).
    pub recv: String,
    /// The deadline the task inherits: epoch ms, or a duration from now below 10^12; the root
    /// promise's deadline when absent.
    pub timeout: Option<i64>,
    /// Headers for the task message (trace context).
    pub head: BTreeMap<String, String>,
}

impl Operation for CreateCallback {
    type Output = Registered;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Registered>, TxError> {
        if let Err(e) = require("promiseId", &self.promise_id)
            .and(require("rootPromiseId", &self.root_promise_id))
        {
            return Ok(Err(e));
        }
        if self.promise_id == self.root_promise_id {
            return Ok(Err(DomainError::bad_request(
                "rootPromiseId must differ from promiseId: an execution does not wait on itself",
            )));
        }
        let timeout = match self.timeout {
            Some(timeout) => deadline_from(timeout, now),
            None => tx.promise(&self.root_promise_id)?.map_or(i64::MAX, |root| root.timeout),
        };
        let callback = Callback {
            id: format!("__resume:{}:{}", self.root_promise_id, self.promise_id),
            promise_id: self.promise_id.clone(),
            root_promise_id: self.root_promise_id.clone(),
            recv: self.recv,
            mesg: Message {
                kind: MessageKind::Resume,
                root: self.root_promise_id,
                leaf: self.promise_id,
                head: self.head,
            },
            timeout,
            created_on: now,
        };
        register(tx, callback)
    }
}

impl Answer for CreateCallback {}

/// `promises.subscribe`: notify `recv` when `promise_id` completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSubscription {
    /// The promise to watch.
    pub promise_id: String,
    /// The subscriber's id, unique per promise.
    pub id: String,
    /// Where the notify task goes (JSON text).
    pub recv: String,
    /// The deadline the task inherits: epoch ms, or a duration from now below 10^12; none when
    /// absent (a notify is sent once, whenever the promise completes).
    pub timeout: Option<i64>,
    /// Headers for the task message (trace context).
    pub head: BTreeMap<String, String>,
}

impl Operation for CreateSubscription {
    type Output = Registered;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Registered>, TxError> {
        if let Err(e) = require("promiseId", &self.promise_id).and(require("id", &self.id)) {
            return Ok(Err(e));
        }
        let callback = Callback {
            id: format!("__notify:{}:{}", self.promise_id, self.id),
            promise_id: self.promise_id.clone(),
            root_promise_id: self.promise_id.clone(),
            recv: self.recv,
            mesg: Message {
                kind: MessageKind::Notify,
                root: self.promise_id.clone(),
                leaf: self.promise_id,
                head: self.head,
            },
            timeout: self.timeout.map_or(i64::MAX, |timeout| deadline_from(timeout, now)),
            created_on: now,
        };
        register(tx, callback)
    }
}

impl Answer for CreateSubscription {}

/// A claimed task with the promises its worker needs. Its JSON is the Resonate server's answer
/// to a claim: `{"type", "promises": {"root": {"id", "data"}, "leaf"?: {"id", "data"}}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The task, now CLAIMED.
    pub task: Task,
    /// Invoke or resume.
    pub kind: MessageKind,
    /// The root promise of the execution.
    pub root: Promise,
    /// For a resume, the promise that completed.
    pub leaf: Option<Promise>,
}

/// One promise of a claim's answer.
#[derive(Serialize)]
struct ClaimedPromiseJson<'a> {
    id: &'a str,
    data: &'a Promise,
}

impl<'a> ClaimedPromiseJson<'a> {
    fn of(promise: &'a Promise) -> Self {
        ClaimedPromiseJson { id: &promise.id, data: promise }
    }
}

/// The promises of a claim's answer.
#[derive(Serialize)]
struct ClaimedPromisesJson<'a> {
    root: ClaimedPromiseJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leaf: Option<ClaimedPromiseJson<'a>>,
}

/// A claim's answer.
#[derive(Serialize)]
struct ClaimedJson<'a> {
    #[serde(rename = "type")]
    kind: MessageKind,
    promises: ClaimedPromisesJson<'a>,
}

impl Serialize for Claimed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ClaimedJson {
            kind: self.kind,
            promises: ClaimedPromisesJson {
                root: ClaimedPromiseJson::of(&self.root),
                leaf: self.leaf.as_ref().map(ClaimedPromiseJson::of),
            },
        }
        .serialize(s)
    }
}

/// The bytes `promise` takes in a claim's answer (`{"id": ..., "data": <promise>}`).
pub fn claimed_len(promise: &Promise) -> usize {
    claimed_len_of(&promise.id, crate::promises::encoded_len(promise))
}

/// [`claimed_len`] of a promise whose own JSON takes `promise_len` bytes: a claim carries it as
/// `{"id":<id>,"data":<the promise>}`.
pub fn claimed_len_of(id: &str, promise_len: usize) -> usize {
    r#"{"id":,"data":}"#.len() + crate::promises::encoded_len(id) + promise_len
}

/// The bytes of a resume claim's answer besides its two promises:
/// `{"type":"resume","promises":{"root":` and `,"leaf":` and `}}`.
pub const CLAIM_FRAME_LEN: usize = 46;

/// `tasks.claim` (spec §9.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTask {
    /// The task.
    pub id: String,
    /// The counter the worker was given.
    pub counter: i64,
    /// The claiming worker.
    pub process_id: String,
    /// The lease, ms.
    pub ttl: i64,
}

impl Operation for ClaimTask {
    type Output = Claimed;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Claimed>, TxError> {
        if let Err(e) = require("id", &self.id).and(require("processId", &self.process_id)) {
            return Ok(Err(e));
        }
        if self.ttl < 0 {
            return Ok(Err(DomainError::bad_request("ttl must not be negative")));
        }
        let Some(mut task) = tx.task(&self.id)? else {
            return Ok(Err(task_not_found(&self.id)));
        };
        if task.state.is_active() && now >= task.timeout {
            // Its deadline passed: timed out for good, whatever the timer has done so far.
            task.finish(TaskState::Timedout, task.timeout);
            tx.update_task(&task)?;
        }
        match task.state {
            TaskState::Claimed => {
                return Ok(Err(DomainError::new(
                    Code::TaskAlreadyClaimed,
                    format!("task {} is already claimed", quoted(&task.id)),
                )));
            }
            TaskState::Completed | TaskState::Timedout => {
                return Ok(Err(DomainError::new(
                    Code::TaskAlreadyCompleted,
                    format!("task {} is already completed", quoted(&task.id)),
                )));
            }
            TaskState::Init | TaskState::Enqueued => {}
        }
        if task.counter != self.counter {
            return Ok(Err(invalid_counter(&task, self.counter)));
        }
        let Some(root) = tx.promise(&task.mesg.root)? else {
            return Err(TxError::msg(format!("task {:?} has no root promise", task.id)));
        };
        let leaf = match task.mesg.kind {
            MessageKind::Resume => tx.promise(&task.mesg.leaf)?,
            _ => None,
        };
        task.state = TaskState::Claimed;
        task.process_id = Some(self.process_id);
        task.ttl = self.ttl;
        task.attempt = 0;
        task.expires_at = now.saturating_add(self.ttl);
        tx.update_task(&task)?;
        let kind = task.mesg.kind;
        Ok(Ok(Success::created(Claimed { task, kind, root, leaf })))
    }
}

impl Answer for ClaimTask {}

/// `tasks.complete` (spec §9.5): ends a claimed task. It does not complete any promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteTask {
    /// The task.
    pub id: String,
    /// The counter of the claim.
    pub counter: i64,
}

impl Operation for CompleteTask {
    type Output = Task;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Task>, TxError> {
        let Some(mut task) = tx.task(&self.id)? else {
            return Ok(Err(task_not_found(&self.id)));
        };
        match task.state {
            TaskState::Completed | TaskState::Timedout => Ok(Ok(Success::ok(task))),
            TaskState::Init | TaskState::Enqueued => Ok(Err(DomainError::new(
                Code::TaskInvalidState,
                format!("task {} is not claimed", quoted(&task.id)),
            ))),
            TaskState::Claimed if task.counter != self.counter => {
                Ok(Err(invalid_counter(&task, self.counter)))
            }
            TaskState::Claimed => {
                task.finish(TaskState::Completed, now);
                tx.update_task(&task)?;
                Ok(Ok(Success::created(task)))
            }
        }
    }
}

impl Answer for CompleteTask {}

/// `tasks.drop` (spec §9.5): the worker gives the task back; it is delivered again under the
/// next counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropTask {
    /// The task.
    pub id: String,
    /// The counter of the claim.
    pub counter: i64,
}

impl Operation for DropTask {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        let Some(mut task) = tx.task(&self.id)? else {
            return Ok(Err(task_not_found(&self.id)));
        };
        if task.state != TaskState::Claimed {
            return Ok(Ok(Success::ok(())));
        }
        if task.counter != self.counter {
            return Ok(Err(invalid_counter(&task, self.counter)));
        }
        task.revoke();
        tx.update_task(&task)?;
        Ok(Ok(Success::created(())))
    }
}

impl Answer for DropTask {}

/// How many tasks or locks a heartbeat extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TasksAffected {
    /// The count.
    pub tasks_affected: usize,
}

/// `tasks.heartbeat` (spec §9.5): extends the lease of every task `process_id` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatTasks {
    /// The worker process.
    pub process_id: String,
}

impl Operation for HeartbeatTasks {
    type Output = TasksAffected;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<TasksAffected>, TxError> {
        if let Err(e) = require("processId", &self.process_id) {
            return Ok(Err(e));
        }
        let claimed = tx.claimed_tasks(&self.process_id)?;
        let count = claimed.len();
        for mut task in claimed {
            task.expires_at = now.saturating_add(task.ttl);
            tx.update_task(&task)?;
        }
        Ok(Ok(Success::ok(TasksAffected { tasks_affected: count })))
    }
}

impl Answer for HeartbeatTasks {}

/// What a [`TimeoutTasks`] run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTimeouts {
    /// Tasks whose lease or delivery window ended: back to INIT under a new counter.
    pub revoked: usize,
    /// Tasks past their deadline: TIMEDOUT.
    pub timed_out: usize,
}

/// Background work (spec §9.4): ENQUEUED or CLAIMED tasks whose window ended go back to INIT with
/// counter+1 (to be delivered again), or are TIMEDOUT once past their deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutTasks {
    /// Most tasks handled in this transaction.
    pub limit: usize,
}

impl Operation for TimeoutTasks {
    type Output = TaskTimeouts;

    /// Usually nothing has expired: the check then never takes the write lock.
    fn read_attempt(&self) -> Option<Self> {
        Some(*self)
    }

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<TaskTimeouts>, TxError> {
        let mut report = TaskTimeouts { revoked: 0, timed_out: 0 };
        for mut task in tx.expired_tasks(now, self.limit)? {
            if now < task.timeout {
                task.revoke();
                report.revoked += 1;
            } else {
                task.finish(TaskState::Timedout, task.timeout);
                report.timed_out += 1;
            }
            tx.update_task(&task)?;
        }
        Ok(Ok(Success::ok(report)))
    }
}

/// A task to deliver now, with what its message needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The task, as it was picked (INIT, with its current counter).
    pub task: Task,
    /// For a notify: the completed promise.
    pub promise: Option<Promise>,
}

/// Background work (spec §9.3): picks the tasks due for delivery, at most one per execution.
/// Tasks past their deadline are TIMEDOUT, invoke and resume tasks of a finished execution are
/// COMPLETED without delivery, notify tasks are COMPLETED as they are handed out (best effort),
/// and the others get a delivery window of [`TIME_TO_RETRY_MS`] so they are not picked twice
/// while their delivery is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeDeliveries {
    /// Most tasks picked in this transaction.
    pub limit: usize,
}

/// What a [`TakeDeliveries`] run picked.
#[derive(Debug, Clone, PartialEq)]
pub struct Deliveries {
    /// The tasks to deliver.
    pub deliver: Vec<Delivery>,
    /// How many tasks it looked at (a full batch means more may be due).
    pub picked: usize,
}

impl Operation for TakeDeliveries {
    type Output = Deliveries;

    /// Usually nothing is due: the check then never takes the write lock.
    fn read_attempt(&self) -> Option<Self> {
        Some(*self)
    }

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Deliveries>, TxError> {
        let picked = tx.deliverable_tasks(now, self.limit)?;
        let mut deliver = Vec::new();
        for mut task in picked.iter().cloned() {
            if now >= task.timeout {
                task.finish(TaskState::Timedout, task.timeout);
                tx.update_task(&task)?;
                continue;
            }
            let root = tx.promise(&task.mesg.root)?;
            let promise = match task.mesg.kind {
                MessageKind::Notify => {
                    let promise = root;
                    task.finish(TaskState::Completed, now);
                    tx.update_task(&task)?;
                    promise
                }
                MessageKind::Invoke | MessageKind::Resume => {
                    if root.is_none_or(|p| p.state != PromiseState::Pending) {
                        task.finish(TaskState::Completed, now);
                        tx.update_task(&task)?;
                        continue;
                    }
                    task.expires_at = now.saturating_add(TIME_TO_RETRY_MS);
                    tx.update_task(&task)?;
                    None
                }
            };
            deliver.push(Delivery { task, promise });
        }
        Ok(Ok(Success::ok(Deliveries { deliver, picked: picked.len() })))
    }
}

/// How one delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The task.
    pub id: String,
    /// The counter it was delivered under.
    pub counter: i64,
    /// Whether the receiver took it.
    pub ok: bool,
    /// When it was sent (epoch ms): the claim window and the wait before a retry count from
    /// then, not from when the outcome is recorded (a worker may claim in between).
    pub sent_at: i64,
}

/// Background work (spec §9.3, after the send): a task its receiver took becomes ENQUEUED and
/// waits [`TIME_TO_CLAIM_MS`] from its send for a claim; one that could not be delivered is tried
/// again [`TIME_TO_RETRY_MS`] after its send. Tasks that moved on meanwhile (claimed, completed, revoked) are left
/// alone. Reports the next task deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDeliveries {
    /// The outcomes.
    pub outcomes: Vec<Delivered>,
}

impl Operation for RecordDeliveries {
    type Output = Option<i64>;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Option<i64>>, TxError> {
        for outcome in self.outcomes {
            let Some(mut task) = tx.task(&outcome.id)? else { continue };
            if task.state != TaskState::Init || task.counter != outcome.counter {
                continue;
            }
            let sent_at = outcome.sent_at.min(now);
            if outcome.ok {
                task.state = TaskState::Enqueued;
                task.expires_at = sent_at.saturating_add(TIME_TO_CLAIM_MS);
            } else {
                task.attempt = task.attempt.saturating_add(1);
                task.expires_at = sent_at.saturating_add(TIME_TO_RETRY_MS);
            }
            tx.update_task(&task)?;
        }
        Ok(Ok(Success::ok(tx.next_task_deadline()?)))
    }
}

/// The next task deadline, read without the write lock when the backend allows (for timers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTaskDeadline;

impl Operation for NextTaskDeadline {
    type Output = Option<i64>;

    fn read_attempt(&self) -> Option<Self> {
        Some(*self)
    }

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Option<i64>>, TxError> {
        Ok(Ok(Success::ok(tx.next_task_deadline()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promises::encoded_len;

    #[test]
    fn the_claimed_length_is_the_length_of_the_claimed_json() {
        for id in ["p", "a \"quoted\" id", "ünïcödé/and\\slashes", ""] {
            let promise = Promise {
                id: id.to_owned(),
                state: crate::PromiseState::Pending,
                param: crate::Value { headers: Default::default(), data: b"param".to_vec() },
                value: crate::Value::default(),
                timeout: 1,
                idempotency_key_for_create: Some("k".into()),
                idempotency_key_for_complete: None,
                tags: [("t".to_owned(), "v".to_owned())].into(),
                created_on: 0,
                completed_on: None,
                sort_id: 0,
            };
            assert_eq!(
                claimed_len(&promise),
                encoded_len(&ClaimedPromiseJson::of(&promise)),
                "{id}"
            );
        }
    }
}
