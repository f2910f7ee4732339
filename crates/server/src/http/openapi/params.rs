//! The parameters of the document: the headers, path segments and query strings the handlers
//! read by hand (they take the raw `HeaderMap`, path and `Uri` to word their own 400s), described
//! here for `#[utoipa::path(params(...))]`.

use std::collections::BTreeMap;

use utoipa::IntoParams;

/// The fencing headers (spec §9.6): the write runs only while that task is claimed at that
/// counter, else 412 (41200). Send both or neither.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct FenceHeaders {
    /// The id of the task the caller holds.
    #[param(rename = "Task-Id", required = false)]
    pub task_id: String,
    /// The counter of that claim (an integer).
    #[param(rename = "Task-Counter", required = false)]
    pub task_counter: i64,
}

/// The headers of a promise write: its idempotency key, strictness and fence.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct WriteHeaders {
    /// Makes the write idempotent: a repeat with the same key answers 200 with the stored
    /// promise.
    #[param(rename = "Idempotency-Key", required = false)]
    pub idempotency_key: String,
    /// `true` or `false` (also `True`, `1`, `t`, …): a strict repeat must also find the promise in
    /// the state it would set.
    #[param(rename = "Strict", required = false)]
    pub strict: bool,
    /// See the fencing headers: the id of the task the caller holds.
    #[param(rename = "Task-Id", required = false)]
    pub task_id: String,
    /// See the fencing headers: the counter of that claim.
    #[param(rename = "Task-Counter", required = false)]
    pub task_counter: i64,
}

/// The idempotency key of a schedule create.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// A repeat with the same key answers 200 with the stored schedule.
    #[param(rename = "Idempotency-Key", required = false)]
    pub idempotency_key: String,
}

/// The promise of a `/promises/{id}` path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PromisePath {
    /// The promise id. It may contain `/` (the route takes the rest of the path); `%2F` works
    /// too.
    pub id: String,
}

/// The schedule of a `/schedules/{id}` path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SchedulePath {
    /// The schedule id. It may contain `/` (the route takes the rest of the path).
    pub id: String,
}

/// The task of a GET form `/tasks/<op>/{id}/{counter}`: the counter is the last segment, the id
/// everything before it.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskPath {
    /// The task id; it may contain `:` and `/`.
    pub id: String,
    /// The task's counter.
    pub counter: i64,
}

/// The query of `GET /promises` (the first value of each parameter wins).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromiseSearchQuery {
    /// Id pattern; `*` matches any run of characters. Required unless `cursor` is given.
    pub id: Option<String>,
    /// `pending`, `resolved` or `rejected` (all three rejected states), ignoring case; absent
    /// means every state.
    pub state: Option<String>,
    /// Tags the promises must carry, as `tags[key]=value`.
    #[param(style = DeepObject, explode)]
    pub tags: Option<BTreeMap<String, String>>,
    /// Most promises in the page, 1 to 100 (default 100).
    pub limit: Option<i64>,
    /// The `cursor` of the previous page; it replaces every other parameter.
    pub cursor: Option<String>,
}

/// The query of `GET /schedules` (the first value of each parameter wins).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleSearchQuery {
    /// Id pattern; `*` matches any run of characters. Required unless `cursor` is given.
    pub id: Option<String>,
    /// Tags the schedules must carry, as `tags[key]=value`.
    #[param(style = DeepObject, explode)]
    pub tags: Option<BTreeMap<String, String>>,
    /// Most schedules in the page, 1 to 100 (default 100).
    pub limit: Option<i64>,
    /// The `cursor` of the previous page; it replaces every other parameter.
    pub cursor: Option<String>,
}

/// The path of the SSE poller.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PollPath {
    /// The receiver group (`poll://any@<group>` reaches one connection of it).
    pub group: String,
    /// This connection's id in the group (`poll://uni@<group>/<id>` reaches it).
    pub id: String,
}
