//! The task routes of spec §12.1 and §9.5, and `POST /promises/task` (§5.1): each request becomes
//! the payload of the matching NATS operation and runs through the same operation table. The GET
//! forms `/tasks/<op>/<id>/<counter>` exist so that a task message's hrefs can be followed; the
//! task id may contain `:` and `/`, and the counter is the last path segment.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use natsapi_core::tasks::DEFAULT_CLAIM_TTL_MS;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::HttpState;
use super::error::HttpError;
use super::promises::{
    self, add_write_headers, body_object, body_payload, path_id, raw, run, run_renamed,
};

/// The task routes: `POST /promises/task`, `POST /tasks/{claim,complete,drop,heartbeat}` and the
/// GET forms `/tasks/{claim,complete,drop,heartbeat}/{id}/{counter}`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route(
            "/promises/task",
            post(create_task).get(read_promise_named_task).patch(complete_promise_named_task),
        )
        .route("/tasks/claim", post(claim))
        .route("/tasks/complete", post(complete))
        .route("/tasks/drop", post(drop_task))
        .route("/tasks/heartbeat", post(heartbeat))
        .route("/tasks/claim/{*task}", get(claim_by_path))
        .route("/tasks/complete/{*task}", get(complete_by_path))
        .route("/tasks/drop/{*task}", get(drop_by_path))
        .route("/tasks/heartbeat/{*task}", get(heartbeat_by_path))
}

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
async fn read_promise_named_task(state: State<HttpState>) -> Response {
    promises::read(state, Ok(Path("task".to_owned()))).await
}

/// `PATCH /promises/task`: completes the promise whose id is `task`.
async fn complete_promise_named_task(
    state: State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    promises::complete(state, Ok(Path("task".to_owned())), headers, body).await
}

/// `POST /tasks/claim` with body `{id, counter, processId, ttl}`: 201 with
/// `{type, promises:{root, leaf?}}`.
async fn claim(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "tasks.claim", body_payload(body)).await
}

/// `POST /tasks/complete` with body `{id, counter}`.
async fn complete(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "tasks.complete", body_payload(body)).await
}

/// `POST /tasks/drop` with body `{id, counter}`; a 201 has no body (spec §9.5).
async fn drop_task(
    State(state): State<HttpState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    without_created_body(run(&state, "tasks.drop", body_payload(body)).await)
}

/// `POST /tasks/heartbeat` with body `{processId}`: 200 with `{tasksAffected}`.
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
async fn complete_by_path(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    run(&state, "tasks.complete", ref_payload(path)).await
}

/// `GET /tasks/drop/{id}/{counter}`; a 201 has no body.
async fn drop_by_path(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    without_created_body(run(&state, "tasks.drop", ref_payload(path)).await)
}

/// `GET /tasks/heartbeat/{id}/{counter}`: heartbeats the process `<id>/<counter>`.
async fn heartbeat_by_path(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let payload =
        task_ref(path).and_then(|task| raw(&BTreeMap::from([("processId", process_of(&task))])));
    run(&state, "tasks.heartbeat", payload).await
}
