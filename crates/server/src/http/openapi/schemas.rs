//! Documentation types for the resources the core crate serializes (the core has no OpenAPI
//! dependency, and several of its types write their JSON by hand: `Value` as `{headers, data}`,
//! `Task` and `Callback` showing only their public fields). Each mirrors the emitted shape field
//! for field; they are never built. `tests/http_openapi.rs` checks that their property names are
//! exactly the keys of real responses.

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// A promise's `param` or `value`: headers and base64 data, each left out when empty (an empty
/// value is `{}`).
#[derive(ToSchema)]
pub struct PromiseValue {
    /// String headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// Opaque bytes, base64 (standard alphabet).
    #[schema(content_encoding = "base64")]
    pub data: Option<String>,
}

/// The state of a promise.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PromiseState {
    /// Not completed yet.
    Pending,
    /// Completed with success.
    Resolved,
    /// Completed with failure.
    Rejected,
    /// Canceled.
    RejectedCanceled,
    /// Its deadline passed before it was completed.
    RejectedTimedout,
}

/// A durable promise.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Promise {
    /// The id chosen by the client; may contain `/`.
    pub id: String,
    /// The current state.
    pub state: PromiseState,
    /// What the promise was created with.
    pub param: PromiseValue,
    /// What it was completed with (`{}` while pending).
    pub value: PromiseValue,
    /// Absolute deadline, epoch ms.
    pub timeout: i64,
    /// The `Idempotency-Key` of the create that made it.
    pub idempotency_key_for_create: Option<String>,
    /// The `Idempotency-Key` of the complete that completed it.
    pub idempotency_key_for_complete: Option<String>,
    /// Free-form string tags (left out when there are none).
    pub tags: Option<BTreeMap<String, String>>,
    /// When it was created, epoch ms.
    pub created_on: i64,
    /// When it was completed, epoch ms (its deadline when it timed out).
    pub completed_on: Option<i64>,
}

/// A task: the public fields only (its state, receiver and message stay hidden).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Task {
    /// `__invoke:<promise>`, or the id of the callback it came from.
    pub id: String,
    /// The fencing epoch: raised each time a claim or delivery is revoked.
    pub counter: i64,
    /// Absolute deadline, epoch ms.
    pub timeout: i64,
    /// The promise of the execution it belongs to.
    pub root_promise_id: String,
    /// The worker process that holds the claim.
    pub process_id: Option<String>,
    /// When it was created, epoch ms.
    pub created_on: i64,
    /// When it was completed or timed out, epoch ms.
    pub completed_on: Option<i64>,
}

/// A callback or subscription: when its promise completes it becomes a task.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Callback {
    /// `__resume:<root>:<promise>` or `__notify:<promise>:<subscription id>`.
    pub id: String,
    /// The promise whose completion it waits for.
    pub promise_id: String,
    /// The execution to resume (the promise itself for a subscription).
    pub root_promise_id: String,
    /// The deadline the task inherits, epoch ms.
    pub timeout: i64,
    /// When it was registered, epoch ms.
    pub created_on: i64,
}

/// The answer to a callback or subscription.
#[derive(ToSchema)]
pub struct CallbackResponse {
    /// The new registration; `null` when nothing new was registered (the promise is completed,
    /// or the id exists).
    pub callback: Option<Callback>,
    /// The promise it waits on.
    pub promise: Promise,
}

/// The answer to `POST /promises/task`.
#[derive(ToSchema)]
pub struct PromiseAndTask {
    /// The promise.
    pub promise: Promise,
    /// Its invoke task, claimed by the caller; `null` when the promise existed already or has no
    /// `resonate:invoke` tag.
    pub task: Option<Task>,
}

/// One page of a promise search.
#[derive(ToSchema)]
pub struct PromisePage {
    /// The matching promises, newest first.
    pub promises: Vec<Promise>,
    /// The `cursor` query of the next page; `null` on the last page.
    pub cursor: Option<String>,
}

/// A schedule: a cron expression that creates a promise on every tick.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Schedule {
    /// The id chosen by the client.
    pub id: String,
    /// Free text (left out when empty).
    pub desc: Option<String>,
    /// The cron expression (5 or 6 fields) or descriptor (`@daily`, `@every 1m`), as given.
    pub cron: String,
    /// Free-form string tags of the schedule (left out when there are none).
    pub tags: Option<BTreeMap<String, String>>,
    /// The template each promise id is rendered from (`{{.id}}`, `{{.timestamp}}`).
    pub promise_id: String,
    /// How long each promise may stay pending, ms after its tick.
    pub promise_timeout: i64,
    /// Each promise's `param`.
    pub promise_param: PromiseValue,
    /// Each promise's tags (left out when there are none).
    pub promise_tags: Option<BTreeMap<String, String>>,
    /// The tick that last fired, epoch ms.
    pub last_run_time: Option<i64>,
    /// The tick that fires next, epoch ms (`9223372036854775807` when there is none).
    pub next_run_time: i64,
    /// The `Idempotency-Key` of the create that made it.
    pub idempotency_key: Option<String>,
    /// When it was created, epoch ms.
    pub created_on: i64,
}

/// One page of a schedule search.
#[derive(ToSchema)]
pub struct SchedulePage {
    /// The matching schedules, newest first.
    pub schedules: Vec<Schedule>,
    /// The `cursor` query of the next page; `null` on the last page.
    pub cursor: Option<String>,
}

/// A lock on a resource, held by one execution until it expires.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Lock {
    /// What is locked.
    pub resource_id: String,
    /// Who holds it.
    pub execution_id: String,
    /// The process the holder runs in; heartbeats go by process.
    pub process_id: String,
    /// How long an acquire or heartbeat keeps it, ms.
    pub ttl: i64,
    /// When it expires, epoch ms.
    pub expires_at: i64,
}

/// The answer to a task heartbeat.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct TasksAffected {
    /// How many claimed tasks had their lease extended.
    pub tasks_affected: u64,
}

/// The answer to a lock heartbeat.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct LocksAffected {
    /// How many locks were extended.
    pub locks_affected: u64,
}

/// One promise of a claim's answer.
#[derive(ToSchema)]
pub struct ClaimedPromise {
    /// The promise id.
    pub id: String,
    /// The promise.
    pub data: Promise,
}

/// The promises of a claim's answer.
#[derive(ToSchema)]
pub struct ClaimedPromises {
    /// The promise of the execution.
    pub root: ClaimedPromise,
    /// The promise whose completion resumes it (resume tasks only).
    pub leaf: Option<ClaimedPromise>,
}

/// The answer to a claim, in the Resonate server's shape.
#[derive(ToSchema)]
pub struct ClaimResponse {
    /// What the task asks for.
    #[schema(rename = "type")]
    pub kind: MessageKind,
    /// The root promise, and for a resume the leaf.
    pub promises: ClaimedPromises,
}

/// What a task asks its worker to do.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MessageKind {
    /// Run the function of the root promise.
    Invoke,
    /// Resume the execution of the root promise: the leaf promise completed.
    Resume,
    /// Tell a subscriber the promise completed.
    Notify,
}

/// The states a complete over HTTP may set.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompletionState {
    /// Complete with success.
    Resolved,
    /// Complete with failure.
    Rejected,
    /// Cancel.
    RejectedCanceled,
}
