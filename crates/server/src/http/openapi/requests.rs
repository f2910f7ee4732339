//! Request bodies of the HTTP routes whose shape differs from the operation payload they become:
//! the path names the promise (callback, subscribe) or the body nests what the payload has flat
//! (`POST /promises/task`). The other bodies are the payload types themselves
//! (`crate::operations::*`).

use utoipa::ToSchema;

/// The body of `POST /promises/callback/{id}`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PromiseCallbackBody {
    /// The execution to resume; must differ from the path's promise.
    pub root_promise_id: String,
    /// Where the resume task goes.
    #[schema(value_type = crate::operations::tasks::RecvPayload)]
    pub recv: serde_json::Value,
    /// The deadline the task inherits, epoch ms (default: the promise's).
    pub timeout: Option<i64>,
}

/// The body of `POST /promises/subscribe/{id}`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PromiseSubscribeBody {
    /// The subscription's id, unique per promise.
    pub id: String,
    /// Where the notify task goes.
    #[schema(value_type = crate::operations::tasks::RecvPayload)]
    pub recv: serde_json::Value,
    /// The deadline the task inherits, epoch ms (default: the promise's).
    pub timeout: Option<i64>,
}

/// The claim part of `POST /promises/task`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct TaskClaim {
    /// The worker process that holds the new task.
    pub process_id: String,
    /// The claim's lease, ms (default a minute).
    pub ttl: Option<i64>,
}

/// The body of `POST /promises/task`: the promise and the claim of its invoke task.
#[derive(ToSchema)]
pub struct CreatePromiseTaskBody {
    /// The promise, as `POST /promises` takes it.
    #[schema(value_type = crate::operations::promises::CreatePayload)]
    pub promise: serde_json::Value,
    /// The claim.
    pub task: TaskClaim,
}
