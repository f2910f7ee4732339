//! The operation table: one entry per operation name, each decoding its payload, running the
//! domain operation and encoding the resource. Every transport dispatches through here.

pub(crate) mod locks;
pub(crate) mod promises;
pub(crate) mod schedules;
pub(crate) mod tasks;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::api::{Api, ApiError, Response};

/// Bytes of a search page besides its promises: brackets, commas and the cursor.
pub const SEARCH_PAGE_OVERHEAD: usize = 2048;

/// Runs one operation on a decoded payload.
pub type Handler = for<'a> fn(&'a Api, &'a RawValue) -> BoxFuture<'a, Result<Response, ApiError>>;

/// Every operation this server answers, by name.
pub const OPERATIONS: &[(&str, Handler)] = &[
    ("promises.read", promises::read),
    ("promises.search", promises::search),
    ("promises.create", promises::create),
    ("promises.complete", promises::complete),
    ("promises.createtask", tasks::create_task),
    ("promises.callback", tasks::callback),
    ("promises.subscribe", tasks::subscribe),
    ("tasks.claim", tasks::claim),
    ("tasks.complete", tasks::complete),
    ("tasks.drop", tasks::drop_task),
    ("tasks.heartbeat", tasks::heartbeat),
    ("schedules.read", schedules::read),
    ("schedules.search", schedules::search),
    ("schedules.create", schedules::create),
    ("schedules.delete", schedules::delete),
    ("locks.acquire", locks::acquire),
    ("locks.release", locks::release),
    ("locks.heartbeat", locks::heartbeat),
];

/// The position of `name` in [`OPERATIONS`].
pub fn position(name: &str) -> Option<usize> {
    OPERATIONS.iter().position(|(n, _)| *n == name)
}

fn unknown_operation(name: &str) -> ApiError {
    let known: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
    ApiError::bad_request(format!(
        "unknown operation {}; expected one of: {}",
        natsapi_core::error::quoted(name),
        known.join(", ")
    ))
}

/// Runs the operation `name` with `payload`.
pub async fn dispatch(
    api: &Api,
    name: &str,
    payload: Option<&RawValue>,
) -> Result<Response, ApiError> {
    let index = position(name).ok_or_else(|| unknown_operation(name))?;
    let (_, handler) = OPERATIONS[index];
    let payload = payload.ok_or_else(|| ApiError::bad_request("payload is required"))?;
    handler(api, payload).await
}

/// Runs a domain operation within the reply budget and answers with its resource and its
/// status.
pub async fn run_and_respond<O: natsapi_core::Answer>(
    api: &Api,
    op: O,
) -> Result<Response, ApiError> {
    let done = api.answer(op).await?;
    crate::api::respond(done.code.status(), &done.value)
}

/// The optional fencing token of a write (`{"fence": {"taskId", "counter"}}`; over HTTP the
/// `Task-Id` and `Task-Counter` headers): the write runs only while that task is claimed at that
/// counter, else 412.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FencePayload {
    task_id: String,
    counter: i64,
}

impl FencePayload {
    /// The core fence.
    pub fn into_fence(self) -> natsapi_core::fence::Fence {
        natsapi_core::fence::Fence { task_id: self.task_id, counter: self.counter }
    }
}

/// `op` guarded by the request's fence, if it carried one.
pub fn fenced<O>(fence: Option<FencePayload>, op: O) -> natsapi_core::fence::Fenced<O> {
    natsapi_core::fence::Fenced { fence: fence.map(FencePayload::into_fence), op }
}

/// The payload of `tasks.heartbeat` and `locks.heartbeat`: the process whose leases to extend.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = HeartbeatRequest)]
pub(crate) struct HeartbeatPayload {
    /// The worker process whose claims (or locks) to extend.
    pub process_id: String,
}

/// Decodes an operation's payload; errors name the offending field (`payload.timeout: ...`).
pub fn decode<T: DeserializeOwned>(payload: &RawValue) -> Result<T, ApiError> {
    crate::json::parse(payload.get(), "payload", ".")
}
