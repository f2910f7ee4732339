//! The task routes of spec §12.1 and §9.5, and `POST /promises/task` (§5.1): each request becomes
//! the payload of the matching NATS operation and runs through the same operation table. The GET
//! forms `/tasks/<op>/<id>/<counter>` exist so that a task message's hrefs can be followed; the
//! task id may contain `:` and `/`, and the counter is the last path segment.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use natsapi_core::tasks::DEFAULT_CLAIM_TTL_MS;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::HttpState;
use super::error::{Body as ErrorResponse, HttpError};
use super::openapi::params::{TaskPath, WriteHeaders};
use super::openapi::requests::CreatePromiseTaskBody;
use super::openapi::responses::CompletePromiseResponses;
use super::openapi::schemas::{ClaimResponse, Promise, PromiseAndTask, Task, TasksAffected};
use super::promises::{
    self, add_write_headers, body_object, body_payload, path_id, raw, run, run_renamed,
};

/// The task routes: `POST /promises/task`, `POST /tasks/{claim,complete,drop,heartbeat}` and the
/// GET forms `/tasks/{claim,complete,drop,heartbeat}/{id}/{counter}`.
pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(create_task, read_promise_named_task, complete_promise_named_task))
        .routes(routes!(claim))
        .routes(routes!(complete))
        .routes(routes!(drop_task))
        .routes(routes!(heartbeat))
        .routes(routes!(claim_by_path))
        .routes(routes!(complete_by_path))
        .routes(routes!(drop_by_path))
        .routes(routes!(heartbeat_by_path))
}

/// The tag of the task routes in the OpenAPI document.
const TAG: &str = "tasks";

/// The body of `POST /promises/task`: the promise and the claim, each an object whose fields
/// are kept verbatim for the operation to check.
#[derive(Deserialize)]
struct CreateTaskBody {
    promise: BTreeMap<String, Box<RawValue>>,
    task: BTreeMap<String, Box<RawValue>>,
}

/// The promise fields of `POST /promises/task`, as the flat payload of `promises.createtask`
/// names them.
const PROMISE_FIELDS: [&str; 4] = ["id", "param", "timeout", "tags"];
/// The task fields of `POST /promises/task`.
const TASK_FIELDS: [&str; 2] = ["processId", "ttl"];

/// The flat `promises.createtask` payload for a `POST /promises/task` body and its headers.
fn create_task_payload(
    body: Result<Bytes, BytesRejection>,
    headers: &HeaderMap,
) -> Result<Box<RawValue>, HttpError> {
    let object = body_object(body)?;
    let text = raw(&object)?;
    let nested: CreateTaskBody =
        crate::json::parse(text.get(), "body", ".").map_err(HttpError::from)?;
    let mut fields = BTreeMap::new();
    for name in PROMISE_FIELDS {
        if let Some(value) = nested.promise.get(name) {
            fields.insert(name.to_owned(), value.clone());
        }
    }
    for name in TASK_FIELDS {
        if let Some(value) = nested.task.get(name) {
            fields.insert(name.to_owned(), value.clone());
        }
    }
    if !fields.contains_key("processId") {
        return Err(HttpError::bad_request("body.task.processId: missing field"));
    }
    add_write_headers(&mut fields, headers)?;
    raw(&fields)
}

/// `POST /promises/task` with body `{promise:{id, param?, timeout, tags?}, task:{processId,
/// ttl?}}` and the `Idempotency-Key` and `Strict` headers: the promise and its invoke task,
/// already claimed by `processId`; answers `{promise, task}`.
#[utoipa::path(
    post,
    operation_id = "createPromiseAndTask",
    path = "/promises/task",
    tag = super::promises::TAG,
    summary = "Create a promise and its claimed invoke task",
    description = "Creates the promise as `POST /promises` does and, in the same transaction, its \
        invoke task already claimed by `task.processId` (spec §5.1). The task is made only for a \
        new promise with a `resonate:invoke` tag; otherwise `task` is null.",
    params(WriteHeaders),
    request_body = CreatePromiseTaskBody,
    responses(
        (status = 201, description = "Created", body = PromiseAndTask),
        (status = 200, description = "A repeat with the same idempotency key: the stored promise, \
            `task` null", body = PromiseAndTask),
        (status = 400, description = "A field or header is invalid (40000)", body = ErrorResponse),
        (status = 409, description = "The promise exists (40900)", body = ErrorResponse),
    ),
)]
async fn create_task(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payload = create_task_payload(body, &headers);
    let renames = [
        ("id", "promise.id"),
        ("param", "promise.param"),
        ("timeout", "promise.timeout"),
        ("tags", "promise.tags"),
        ("processId", "task.processId"),
        ("ttl", "task.ttl"),
    ];
    run_renamed(&state, "promises.createtask", payload, &renames).await
}

/// `GET /promises/task`: reads the promise whose id is `task`, as `GET /promises/{*id}` would.
#[utoipa::path(
    get,
    operation_id = "readPromiseNamedTask",
    path = "/promises/task",
    tag = super::promises::TAG,
    summary = "Read the promise `task`",
    description = "`GET /promises/{id}` for the promise whose id is `task`.",
    responses(
        (status = 200, description = "The promise", body = Promise),
        (status = 404, description = "No such promise (40400)", body = ErrorResponse),
    ),
)]
async fn read_promise_named_task(state: State<HttpState>) -> Response {
    promises::read(state, Ok(Path("task".to_owned()))).await
}

/// `PATCH /promises/task`: completes the promise whose id is `task`.
#[utoipa::path(
    patch,
    operation_id = "completePromiseNamedTask",
    path = "/promises/task",
    tag = super::promises::TAG,
    summary = "Complete the promise `task`",
    description = "`PATCH /promises/{id}` for the promise whose id is `task`.",
    params(WriteHeaders),
    request_body = crate::operations::promises::CompletePayload,
    responses(CompletePromiseResponses),
)]
async fn complete_promise_named_task(
    state: State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    promises::complete(state, Ok(Path("task".to_owned())), headers, body).await
}

/// `POST /tasks/claim` with body `{id, counter, processId, ttl}`: 201 with
/// `{type, promises:{root, leaf?}}`.
#[utoipa::path(
    post,
    operation_id = "claimTask",
    path = "/tasks/claim",
    tag = TAG,
    summary = "Claim a task",
    description = "Claims the task at `counter` for `processId` with a lease of `ttl` ms \
        (spec §9.5).",
    request_body = crate::operations::tasks::ClaimPayload,
    responses(
        (status = 201, description = "Claimed: the root promise, and for a resume the leaf",
            body = ClaimResponse),
        (status = 400, description = "A field is invalid, or the answer would not fit in one \
            reply (40000; nothing is claimed)", body = ErrorResponse),
        (status = 403, description = "Already claimed (40305), completed (40306), another counter \
            (40307)", body = ErrorResponse),
        (status = 404, description = "No such task (40403)", body = ErrorResponse),
    ),
)]
async fn claim(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "tasks.claim", body_payload(body)).await
}

/// `POST /tasks/complete` with body `{id, counter}`.
#[utoipa::path(
    post,
    operation_id = "completeTask",
    path = "/tasks/complete",
    tag = TAG,
    summary = "Complete a task",
    description = "Completes the claimed task (it does not complete any promise).",
    request_body = crate::operations::tasks::TaskRefPayload,
    responses(
        (status = 201, description = "Completed", body = Task),
        (status = 200, description = "Already completed or timed out", body = Task),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
        (status = 403, description = "Not claimed (40308) or another counter (40307)",
            body = ErrorResponse),
        (status = 404, description = "No such task (40403)", body = ErrorResponse),
    ),
)]
async fn complete(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "tasks.complete", body_payload(body)).await
}

/// `POST /tasks/drop` with body `{id, counter}`; a 201 has no body (spec §9.5).
#[utoipa::path(
    post,
    operation_id = "dropTask",
    path = "/tasks/drop",
    tag = TAG,
    summary = "Drop a task",
    description = "Gives the claim up: the task goes back to be delivered again under the next \
        counter.",
    request_body = crate::operations::tasks::TaskRefPayload,
    responses(
        (status = 201, description = "Dropped: it will be delivered again under the next counter \
            (no body)"),
        (status = 200, description = "Not claimed: nothing to do", body = Task),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
        (status = 403, description = "Another counter (40307)", body = ErrorResponse),
        (status = 404, description = "No such task (40403)", body = ErrorResponse),
    ),
)]
async fn drop_task(
    State(state): State<HttpState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    without_created_body(run(&state, "tasks.drop", body_payload(body)).await)
}

/// `POST /tasks/heartbeat` with body `{processId}`: 200 with `{tasksAffected}`.
#[utoipa::path(
    post,
    operation_id = "heartbeatTasks",
    path = "/tasks/heartbeat",
    tag = TAG,
    summary = "Heartbeat a process's tasks",
    description = "Extends the lease of every task the process has claimed.",
    request_body = crate::operations::HeartbeatPayload,
    responses(
        (status = 200, description = "How many claims were extended", body = TasksAffected),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
    ),
)]
async fn heartbeat(
    State(state): State<HttpState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "tasks.heartbeat", body_payload(body)).await
}

/// A dropped task's 201 carries no body, as the Resonate server answers it.
fn without_created_body(mut response: Response) -> Response {
    if response.status() == StatusCode::CREATED {
        *response.body_mut() = Body::empty();
        response.headers_mut().remove(header::CONTENT_TYPE);
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    response
}

/// A task named by a GET path: its id and counter.
struct TaskRef {
    id: String,
    counter: i64,
}

/// The task of a `/tasks/<op>/{id}/{counter}` path: the counter is the last segment, the id
/// everything before it (so ids with `:` or `/` work).
fn task_ref(path: Result<Path<String>, PathRejection>) -> Result<TaskRef, HttpError> {
    let rest = path_id(path)?;
    let Some((id, counter)) = rest.rsplit_once('/') else {
        return Err(HttpError::bad_request(format!(
            "path: {} is not <id>/<counter>",
            natsapi_core::error::quoted(&rest)
        )));
    };
    if id.is_empty() {
        return Err(HttpError::bad_request("path id: the task id is empty"));
    }
    let counter = counter.parse::<i64>().map_err(|e| {
        HttpError::bad_request(format!(
            "path counter: {} is not an integer: {e}",
            natsapi_core::error::quoted(counter)
        ))
    })?;
    Ok(TaskRef { id: id.to_owned(), counter })
}

/// The process id a GET form acts for: `<id>/<counter>`.
fn process_of(task: &TaskRef) -> String {
    format!("{}/{}", task.id, task.counter)
}

/// The payload of `tasks.claim`, `tasks.complete` and `tasks.drop` from a GET path.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskPayload<'a> {
    id: &'a str,
    counter: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    process_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
}

/// `GET /tasks/claim/{id}/{counter}`: claims for the process `<id>/<counter>` with the default
/// lease of a minute.
#[utoipa::path(
    get,
    operation_id = "claimTaskByPath",
    path = "/tasks/claim/{*task}",
    tag = TAG,
    summary = "Claim a task (link form)",
    description = "`POST /tasks/claim` for the process `<id>/<counter>` with a lease of a minute; \
        the form a task message's `href.claim` links to.",
    params(TaskPath),
    responses(
        (status = 201, description = "Claimed: the root promise, and for a resume the leaf",
            body = ClaimResponse),
        (status = 400, description = "The path is not `<id>/<counter>`, or the answer would not \
            fit in one reply (40000; nothing is claimed)", body = ErrorResponse),
        (status = 403, description = "Already claimed (40305), completed (40306), another counter \
            (40307)", body = ErrorResponse),
        (status = 404, description = "No such task (40403)", body = ErrorResponse),
    ),
)]
async fn claim_by_path(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let payload = task_ref(path).and_then(|task| {
        raw(&TaskPayload {
            id: &task.id,
            counter: task.counter,
            process_id: Some(process_of(&task)),
            ttl: Some(DEFAULT_CLAIM_TTL_MS),
        })
    });
    run(&state, "tasks.claim", payload).await
}

/// The `{id, counter}` payload of a GET path.
fn ref_payload(path: Result<Path<String>, PathRejection>) -> Result<Box<RawValue>, HttpError> {
    let task = task_ref(path)?;
    raw(&TaskPayload { id: &task.id, counter: task.counter, process_id: None, ttl: None })
}

/// `GET /tasks/complete/{id}/{counter}`.
#[utoipa::path(
    get,
    operation_id = "completeTaskByPath",
    path = "/tasks/complete/{*task}",
    tag = TAG,
    summary = "Complete a task (link form)",
    description = "`POST /tasks/complete`; the form a task message's `href.complete` links to.",
    params(TaskPath),
    responses(
        (status = 201, description = "Completed", body = Task),
        (status = 200, description = "Already completed or timed out", body = Task),
        (status = 400, description = "The path is not `<id>/<counter>` (40000)", body = ErrorResponse),
        (status = 403, description = "Not claimed (40308) or another counter (40307)",
            body = ErrorResponse),
        (status = 404, description = "No such task (40403)", body = ErrorResponse),
    ),
)]
async fn complete_by_path(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    run(&state, "tasks.complete", ref_payload(path)).await
}

/// `GET /tasks/drop/{id}/{counter}`; a 201 has no body.
#[utoipa::path(
    get,
    operation_id = "dropTaskByPath",
    path = "/tasks/drop/{*task}",
    tag = TAG,
    summary = "Drop a task (link form)",
    description = "`POST /tasks/drop` by path.",
    params(TaskPath),
    responses(
        (status = 201, description = "Dropped: it will be delivered again under the next counter \
            (no body)"),
        (status = 200, description = "Not claimed: nothing to do", body = Task),
        (status = 400, description = "The path is not `<id>/<counter>` (40000)", body = ErrorResponse),
        (status = 403, description = "Another counter (40307)", body = ErrorResponse),
        (status = 404, description = "No such task (40403)", body = ErrorResponse),
    ),
)]
async fn drop_by_path(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    without_created_body(run(&state, "tasks.drop", ref_payload(path)).await)
}

/// `GET /tasks/heartbeat/{id}/{counter}`: heartbeats the process `<id>/<counter>`.
#[utoipa::path(
    get,
    operation_id = "heartbeatTasksByPath",
    path = "/tasks/heartbeat/{*task}",
    tag = TAG,
    summary = "Heartbeat a process's tasks (link form)",
    description = "`POST /tasks/heartbeat` for the process `<id>/<counter>`; the form a task \
        message's `href.heartbeat` links to.",
    params(TaskPath),
    responses(
        (status = 200, description = "How many claims were extended", body = TasksAffected),
        (status = 400, description = "The path is not `<id>/<counter>` (40000)", body = ErrorResponse),
    ),
)]
async fn heartbeat_by_path(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let payload =
        task_ref(path).and_then(|task| raw(&BTreeMap::from([("processId", process_of(&task))])));
    run(&state, "tasks.heartbeat", payload).await
}
