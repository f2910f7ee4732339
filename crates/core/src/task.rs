//! Tasks and callbacks (spec §8–§9): the units of work the server hands to workers, and the
//! registrations that become tasks when a promise completes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::TxError;

/// The tag that asks for an invoke task when a promise is created; its value is the receiver.
pub const INVOKE_TAG: &str = "resonate:invoke";

/// The tag that holds back an invoke task until the given epoch ms.
pub const DELAY_TAG: &str = "resonate:delay";

/// The state of a task. The numbers are the bits Resonate stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Created, waiting to be delivered (or redelivered).
    Init = 1,
    /// Delivered, waiting to be claimed.
    Enqueued = 2,
    /// Claimed by a worker holding its counter.
    Claimed = 4,
    /// Done.
    Completed = 8,
    /// Its deadline passed.
    Timedout = 16,
}

impl TaskState {
    /// Every state, in bit order.
    pub const ALL: [TaskState; 5] = [
        TaskState::Init,
        TaskState::Enqueued,
        TaskState::Claimed,
        TaskState::Completed,
        TaskState::Timedout,
    ];

    /// The stored bit.
    pub fn bit(self) -> u8 {
        self as u8
    }

    /// The state for a stored bit.
    pub fn from_bit(bit: i64) -> Option<Self> {
        TaskState::ALL.into_iter().find(|s| i64::from(s.bit()) == bit)
    }

    /// Whether the task is still live (not completed or timed out).
    pub fn is_active(self) -> bool {
        matches!(self, TaskState::Init | TaskState::Enqueued | TaskState::Claimed)
    }
}

/// What a task asks its worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Run the function of the root promise.
    Invoke,
    /// Resume the execution of the root promise: the leaf promise completed.
    Resume,
    /// Tell a subscriber the promise completed.
    Notify,
}

impl MessageKind {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Invoke => "invoke",
            MessageKind::Resume => "resume",
            MessageKind::Notify => "notify",
        }
    }
}

/// The message a task carries: its kind, the root and leaf promises, and headers (trace context).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// What to do.
    #[serde(rename = "type")]
    pub kind: MessageKind,
    /// The promise of the execution.
    pub root: String,
    /// The promise whose completion this is about (the root for invoke and notify).
    pub leaf: String,
    /// Headers passed along to the worker (`traceparent`, `tracestate`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub head: BTreeMap<String, String>,
}

/// A task (spec §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// `__invoke:<promise>`, or the id of the callback it came from.
    pub id: String,
    /// The worker process that holds the claim.
    pub process_id: Option<String>,
    /// Where it is in its life.
    pub state: TaskState,
    /// The promise of the execution it belongs to.
    pub root_promise_id: String,
    /// Where to deliver it: the receiver as JSON text (a string or `{type, data}`).
    pub recv: String,
    /// What it asks for.
    pub mesg: Message,
    /// Absolute deadline, epoch ms: past it the task is timed out for good.
    pub timeout: i64,
    /// The fencing epoch: raised each time a claim or delivery is revoked.
    pub counter: i64,
    /// Failed deliveries since the last claim.
    pub attempt: i64,
    /// The claim's lease length, ms.
    pub ttl: i64,
    /// When the current delivery, lease or back-off ends (0: none).
    pub expires_at: i64,
    /// When it was created, epoch ms.
    pub created_on: i64,
    /// When it was completed or timed out.
    pub completed_on: Option<i64>,
    /// Insertion order. Never serialized.
    pub sort_id: i64,
}

/// The public JSON of a task: Resonate shows only these fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskJson<'a> {
    id: &'a str,
    counter: i64,
    timeout: i64,
    root_promise_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    process_id: Option<&'a str>,
    created_on: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_on: Option<i64>,
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TaskJson {
            id: &self.id,
            counter: self.counter,
            timeout: self.timeout,
            root_promise_id: &self.root_promise_id,
            process_id: self.process_id.as_deref(),
            created_on: self.created_on,
            completed_on: self.completed_on,
        }
        .serialize(s)
    }
}

impl Task {
    /// A new task in INIT with counter 1.
    pub fn new(id: String, root_promise_id: String, recv: String, mesg: Message, now: i64) -> Self {
        Task {
            id,
            process_id: None,
            state: TaskState::Init,
            root_promise_id,
            recv,
            mesg,
            timeout: i64::MAX,
            counter: 1,
            attempt: 0,
            ttl: 0,
            expires_at: 0,
            created_on: now,
            completed_on: None,
            sort_id: 0,
        }
    }

    /// The id of the invoke task of `promise_id`.
    pub fn invoke_id(promise_id: &str) -> String {
        format!("__invoke:{promise_id}")
    }

    /// Ends the task: COMPLETED (or TIMEDOUT) at `when`, its claim and lease cleared.
    pub fn finish(&mut self, state: TaskState, when: i64) {
        self.state = state;
        self.completed_on = Some(when);
        self.process_id = None;
        self.ttl = 0;
        self.expires_at = 0;
    }

    /// Revokes delivery or claim: back to INIT under a new counter, due for redelivery at once.
    pub fn revoke(&mut self) {
        self.state = TaskState::Init;
        self.counter = self.counter.saturating_add(1);
        self.process_id = None;
        self.attempt = 0;
        self.ttl = 0;
        self.expires_at = 0;
    }
}

/// A callback or subscription (spec §8): when its promise completes it becomes a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// `__resume:<root>:<promise>` or `__notify:<promise>:<subscription id>`.
    pub id: String,
    /// The promise whose completion it waits for.
    pub promise_id: String,
    /// The execution to resume (the promise itself for a subscription).
    pub root_promise_id: String,
    /// Where the task it becomes is delivered (JSON text).
    pub recv: String,
    /// The message of that task.
    pub mesg: Message,
    /// The deadline the task inherits, epoch ms.
    pub timeout: i64,
    /// When it was registered.
    pub created_on: i64,
}

/// The public JSON of a callback.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallbackJson<'a> {
    id: &'a str,
    promise_id: &'a str,
    root_promise_id: &'a str,
    timeout: i64,
    created_on: i64,
}

impl Serialize for Callback {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        CallbackJson {
            id: &self.id,
            promise_id: &self.promise_id,
            root_promise_id: &self.root_promise_id,
            timeout: self.timeout,
            created_on: self.created_on,
        }
        .serialize(s)
    }
}

impl Callback {
    /// The task this callback becomes when its promise completes at `now`.
    pub fn into_task(self, now: i64) -> Task {
        let mut task = Task::new(self.id, self.root_promise_id, self.recv, self.mesg, now);
        task.timeout = self.timeout;
        task
    }
}

/// Reads and writes of tasks.
pub trait TaskTx {
    /// The task with this id.
    fn task(&mut self, id: &str) -> Result<Option<Task>, TxError>;

    /// Inserts the task and assigns its `sort_id`, unless one with its id exists; returns whether
    /// it inserted.
    fn insert_task(&mut self, task: &mut Task) -> Result<bool, TxError>;

    /// Stores every field of an existing task but its id, root, message, receiver and creation.
    fn update_task(&mut self, task: &Task) -> Result<(), TxError>;

    /// Live (INIT, ENQUEUED or CLAIMED) tasks of the execution rooted at `root_promise_id`.
    fn active_tasks_of_root(&mut self, root_promise_id: &str) -> Result<Vec<Task>, TxError>;

    /// INIT tasks due for delivery at `now` (`expires_at <= now`) whose root has no ENQUEUED or
    /// CLAIMED task: at most one per root (the oldest), oldest first, at most `limit`.
    fn deliverable_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError>;

    /// ENQUEUED or CLAIMED tasks whose lease or delivery window ended
    /// (`0 < expires_at <= now`) or whose deadline passed (`timeout <= now`), at most `limit`.
    fn expired_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError>;

    /// CLAIMED tasks held by `process_id`.
    fn claimed_tasks(&mut self, process_id: &str) -> Result<Vec<Task>, TxError>;

    /// The earliest time background work on tasks is due: a deliverable task's `expires_at`, or
    /// an ENQUEUED or CLAIMED task's `expires_at` (when set) or `timeout`.
    fn next_task_deadline(&mut self) -> Result<Option<i64>, TxError>;
}

/// Reads and writes of callbacks and subscriptions.
pub trait CallbackTx {
    /// Inserts the callback unless one with its id exists; returns whether it inserted.
    fn insert_callback(&mut self, callback: &Callback) -> Result<bool, TxError>;

    /// Removes and returns every callback waiting on `promise_id`, oldest first.
    fn take_callbacks(&mut self, promise_id: &str) -> Result<Vec<Callback>, TxError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_json_shows_only_the_public_fields() {
        let mesg = Message {
            kind: MessageKind::Invoke,
            root: "p".into(),
            leaf: "p".into(),
            head: BTreeMap::new(),
        };
        let task = Task::new(Task::invoke_id("p"), "p".into(), "\"default\"".into(), mesg, 7);
        assert_eq!(
            serde_json::to_string(&task).unwrap(),
            format!(
                r#"{{"id":"__invoke:p","counter":1,"timeout":{},"rootPromiseId":"p","createdOn":7}}"#,
                i64::MAX
            )
        );
    }

    #[test]
    fn revoking_raises_the_counter_and_clears_the_claim() {
        let mesg = Message {
            kind: MessageKind::Resume,
            root: "r".into(),
            leaf: "l".into(),
            head: BTreeMap::new(),
        };
        let mut task = Task::new("t".into(), "r".into(), "\"x\"".into(), mesg, 0);
        task.state = TaskState::Claimed;
        task.process_id = Some("w1".into());
        task.expires_at = 99;
        task.revoke();
        assert_eq!(
            (task.state, task.counter, task.process_id, task.expires_at),
            (TaskState::Init, 2, None, 0)
        );
    }
}
