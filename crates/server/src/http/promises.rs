//! The promise routes of spec §12.1: each request becomes the payload of the matching NATS
//! operation (headers `Idempotency-Key` and `Strict` become `idempotencyKey` and `strict`) and
//! runs through the same operation table.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use natsapi_core::PromiseState;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::HttpState;
use super::error::{Body as ErrorResponse, HttpError};
use super::openapi::params::{PromisePath, PromiseSearchQuery, WriteHeaders};
use super::openapi::responses::{CompletePromiseResponses, ReadPromiseResponses};
use super::openapi::schemas::{Promise, PromisePage};
use crate::metrics::{self as m, OperationLabel};
use crate::operations;

/// The tag of the promise routes in the OpenAPI document.
pub const TAG: &str = "promises";

/// The promise routes: create, search, read and complete.
pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new().routes(routes!(search, create)).routes(routes!(read, complete))
}

/// Runs `operation` on `payload` (or answers the translation error) and meters the request.
pub(super) async fn run(
    state: &HttpState,
    operation: &'static str,
    payload: Result<Box<RawValue>, HttpError>,
) -> Response {
    run_renamed(state, operation, payload, &[]).await
}

/// [`run`], where an error naming a field `body.<from>` names it `body.<to>` instead, for
/// routes whose body nests fields the operation's payload has flat.
pub(super) async fn run_renamed(
    state: &HttpState,
    operation: &'static str,
    payload: Result<Box<RawValue>, HttpError>,
    renames: &[(&str, &str)],
) -> Response {
    let metrics = m::http();
    let label =
        operations::position(operation).map_or(OperationLabel::Unknown, OperationLabel::Known);
    let start = Instant::now();
    metrics.in_flight().increment(1.0);
    let result = match payload {
        Ok(payload) => {
            operations::dispatch(&state.api, operation, Some(&payload)).await.map_err(|e| {
                let mut e = HttpError::from(e);
                // The operation names its payload; over HTTP the fields came from the body.
                if let Some(rest) = e.message.strip_prefix("payload")
                    && rest.starts_with(['.', ':'])
                {
                    e.message = format!("body{rest}");
                }
                rename_field(&mut e.message, renames);
                e
            })
        }
        Err(e) => Err(e),
    };
    metrics.in_flight().decrement(1.0);
    match result {
        Ok(response) => {
            metrics.record(label, response.status, start.elapsed());
            let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
            if status == StatusCode::NO_CONTENT {
                return status.into_response();
            }
            let body = String::from(Box::<str>::from(response.body));
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            metrics.record(label, e.status().as_u16(), start.elapsed());
            e.into_response()
        }
    }
}

/// Rewrites a message about `body.<from>` to name `body.<to>` (the first rename that applies).
fn rename_field(message: &mut String, renames: &[(&str, &str)]) {
    for (from, to) in renames {
        if let Some(rest) = message.strip_prefix("body.").and_then(|m| m.strip_prefix(from))
            && (rest.is_empty() || rest.starts_with(['.', ':', '[']))
        {
            *message = format!("body.{to}{rest}");
            return;
        }
    }
}

/// JSON text for `value`.
pub(super) fn raw<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, HttpError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| HttpError { code: 50000, message: format!("encode: {e}") })
}

/// The request body as a JSON object whose values are kept verbatim.
pub(super) fn body_object(
    body: Result<Bytes, BytesRejection>,
) -> Result<BTreeMap<String, Box<RawValue>>, HttpError> {
    let body =
        body.map_err(|e| HttpError::from_status(e.status(), format!("body: {}", e.body_text())))?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| HttpError::bad_request(format!("body: not UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(HttpError::bad_request("body: a JSON object is required"));
    }
    crate::json::parse(text, "body", ".").map_err(HttpError::from)
}

/// The request body, a JSON object, as an operation's payload.
pub(super) fn body_payload(
    body: Result<Bytes, BytesRejection>,
) -> Result<Box<RawValue>, HttpError> {
    raw(&body_object(body)?)
}

/// A header's value as text; absent is `None`, a value that is not visible ASCII is a 400.
pub(super) fn header_text<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, HttpError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| HttpError::bad_request(format!("header {name}: not visible ASCII")))
        })
        .transpose()
}

/// The `Strict` header, read as Go's `strconv.ParseBool` does (`true`, `True`, `false`, …).
fn strict(headers: &HeaderMap) -> Result<Option<bool>, HttpError> {
    let Some(text) = header_text(headers, "strict")? else { return Ok(None) };
    match text.trim() {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Ok(Some(true)),
        "false" | "False" | "FALSE" | "f" | "F" | "0" | "" => Ok(Some(false)),
        other => Err(HttpError::bad_request(format!(
            "header Strict: {} is not a boolean (expected true or false)",
            natsapi_core::error::quoted(other)
        ))),
    }
}

/// Puts the fencing headers `Task-Id` and `Task-Counter` (spec §9.6) into the payload as
/// `fence`: the write then runs only while that task is claimed at that counter (else 412).
pub(super) fn add_fence_headers(
    fields: &mut BTreeMap<String, Box<RawValue>>,
    headers: &HeaderMap,
) -> Result<(), HttpError> {
    fields.remove("fence");
    let task_id = header_text(headers, "task-id")?;
    let counter = header_text(headers, "task-counter")?;
    let (task_id, counter) = match (task_id, counter) {
        (None, None) => return Ok(()),
        (Some(task_id), Some(counter)) => (task_id, counter),
        _ => {
            return Err(HttpError::bad_request(
                "headers Task-Id and Task-Counter go together: send both or neither",
            ));
        }
    };
    let counter: i64 = counter.trim().parse().map_err(|_| {
        HttpError::bad_request(format!(
            "header Task-Counter: {} is not an integer",
            natsapi_core::error::quoted(counter)
        ))
    })?;
    let fence = serde_json::json!({"taskId": task_id, "counter": counter});
    fields.insert("fence".into(), raw(&fence)?);
    Ok(())
}

/// Puts the `Idempotency-Key` and `Strict` headers into the payload, replacing any body fields of
/// those names, and the fencing headers (see [`add_fence_headers`]).
pub(super) fn add_write_headers(
    fields: &mut BTreeMap<String, Box<RawValue>>,
    headers: &HeaderMap,
) -> Result<(), HttpError> {
    add_fence_headers(fields, headers)?;
    fields.remove("idempotencyKey");
    fields.remove("strict");
    if let Some(key) = header_text(headers, "idempotency-key")? {
        fields.insert("idempotencyKey".into(), raw(key)?);
    }
    if let Some(strict) = strict(headers)? {
        fields.insert("strict".into(), raw(&strict)?);
    }
    Ok(())
}

/// The id of a `/promises/{*id}` (or schedules, tasks, callbacks) path; like a JSON body, it must
/// not hold the NUL character (see [`crate::json::parse`]).
pub(super) fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, HttpError> {
    let Path(id) = path.map_err(|e| HttpError::bad_request(format!("path: {}", e.body_text())))?;
    if id.contains('\0') {
        return Err(HttpError::bad_request(
            "path: the id must not contain the NUL character (%00)",
        ));
    }
    Ok(id)
}

/// `POST /promises` with body `{id, param?, timeout, tags?}`.
#[utoipa::path(
    post,
    operation_id = "createPromise",
    path = "/promises",
    tag = TAG,
    summary = "Create a promise",
    description = "Creates the promise `id` (spec §5). A repeat with the same `Idempotency-Key` \
        answers 200 with the stored promise (with `Strict: true` only while it is pending); any \
        other create of an existing id is a 409. A `resonate:invoke` tag also makes its invoke \
        task.",
    params(WriteHeaders),
    request_body = crate::operations::promises::CreatePayload,
    responses(
        (status = 201, description = "Created", body = Promise),
        (status = 200, description = "A repeat with the same idempotency key: the stored promise",
            body = Promise),
        (status = 400, description = "A field or header is invalid (40000)", body = ErrorResponse),
        (status = 409, description = "The promise exists (40900)", body = ErrorResponse),
        (status = 412, description = "The fencing headers name no task claimed at that counter \
            (41200)", body = ErrorResponse),
    ),
)]
async fn create(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payload = body_object(body).and_then(|mut fields| {
        add_write_headers(&mut fields, &headers)?;
        raw(&fields)
    });
    run(&state, "promises.create", payload).await
}

/// `GET /promises/{*id}`; the id may contain `/`.
#[utoipa::path(
    get,
    operation_id = "readPromise",
    path = "/promises/{*id}",
    tag = TAG,
    summary = "Read a promise",
    description = "The promise `id` (timed out first if its deadline has passed).",
    params(PromisePath),
    responses(ReadPromiseResponses),
)]
pub(super) async fn read(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let payload = path_id(path).and_then(|id| raw(&BTreeMap::from([("id", id)])));
    run(&state, "promises.read", payload).await
}

/// `PATCH /promises/{*id}` with body `{state, value?}`; HTTP completes only to RESOLVED,
/// REJECTED or REJECTED_CANCELED.
#[utoipa::path(
    patch,
    operation_id = "completePromise",
    path = "/promises/{*id}",
    tag = TAG,
    summary = "Complete a promise",
    description = "Resolves, rejects or cancels the promise `id` (spec §6). A repeat with the \
        same `Idempotency-Key`, or any non-strict complete of a promise that timed out, answers \
        200 with the stored promise.",
    params(PromisePath, WriteHeaders),
    request_body = crate::operations::promises::CompletePayload,
    responses(CompletePromiseResponses),
)]
pub(super) async fn complete(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payload = path_id(path).and_then(|id| {
        let mut fields = body_object(body)?;
        if let Some(text) = fields.get("state")
            && let Ok(name) = serde_json::from_str::<String>(text.get())
            && let Ok(to) = name.parse::<PromiseState>()
            && !matches!(
                to,
                PromiseState::Resolved | PromiseState::Rejected | PromiseState::RejectedCanceled
            )
        {
            return Err(HttpError::bad_request(format!(
                "body.state: {to} cannot be set over HTTP (expected RESOLVED, REJECTED or \
                 REJECTED_CANCELED)"
            )));
        }
        add_write_headers(&mut fields, &headers)?;
        fields.insert("id".into(), raw(&id)?);
        raw(&fields)
    });
    run(&state, "promises.complete", payload).await
}

/// The search payload of the NATS operation.
#[derive(Serialize)]
struct SearchPayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    states: Option<Vec<PromiseState>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
}

/// The states an HTTP `state` filter names: `pending`, `resolved` or `rejected` (all three
/// rejected states), ignoring case.
fn http_states(state: &str) -> Result<Vec<PromiseState>, HttpError> {
    if state.eq_ignore_ascii_case("pending") {
        Ok(vec![PromiseState::Pending])
    } else if state.eq_ignore_ascii_case("resolved") {
        Ok(vec![PromiseState::Resolved])
    } else if state.eq_ignore_ascii_case("rejected") {
        Ok(vec![
            PromiseState::Rejected,
            PromiseState::RejectedCanceled,
            PromiseState::RejectedTimedout,
        ])
    } else {
        Err(HttpError::bad_request(format!(
            "query state: {} is not one of pending, resolved or rejected",
            natsapi_core::error::quoted(state)
        )))
    }
}

/// The query string's pairs, in order.
pub(super) fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, HttpError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| HttpError::bad_request(format!("query: {}", e.body_text())))?;
    Ok(pairs)
}

/// The first value of the query parameter `name`.
pub(super) fn query_first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The `limit` query parameter as an integer (the operation checks its range).
pub(super) fn query_limit(pairs: &[(String, String)]) -> Result<Option<i64>, HttpError> {
    query_first(pairs, "limit")
        .map(|text| {
            text.trim().parse::<i64>().map_err(|e| {
                HttpError::bad_request(format!(
                    "query limit: {} is not an integer: {e}",
                    natsapi_core::error::quoted(text)
                ))
            })
        })
        .transpose()
}

/// The `tags[k]=v` query parameters (first value of each key wins).
pub(super) fn query_tags(pairs: &[(String, String)]) -> BTreeMap<&str, &str> {
    let mut tags = BTreeMap::new();
    for (key, value) in pairs {
        if let Some(tag) = key.strip_prefix("tags[").and_then(|k| k.strip_suffix(']')) {
            tags.entry(tag).or_insert(value.as_str());
        }
    }
    tags
}

/// The search payload for the query `id=&state=&tags[k]=v&limit=&cursor=` (first value wins).
fn search_payload(uri: &Uri) -> Result<Box<RawValue>, HttpError> {
    let pairs = query_pairs(uri)?;
    let first = |name: &str| query_first(&pairs, name);
    let states = first("state").map(http_states).transpose()?;
    let limit = query_limit(&pairs)?;
    let tags = query_tags(&pairs);
    raw(&SearchPayload { id: first("id"), states, tags, limit, cursor: first("cursor") })
}

/// `GET /promises?id=&state=&tags[k]=v&limit=&cursor=`.
#[utoipa::path(
    get,
    operation_id = "searchPromises",
    path = "/promises",
    tag = TAG,
    summary = "Search promises",
    description = "Promises whose id matches the pattern (and state and tags), newest first, a \
        page at a time (spec §7).",
    params(PromiseSearchQuery),
    responses(
        (status = 200, description = "One page", body = PromisePage),
        (status = 400, description = "A parameter or the cursor is invalid (40000)",
            body = ErrorResponse),
    ),
)]
async fn search(State(state): State<HttpState>, uri: Uri) -> Response {
    run(&state, "promises.search", search_payload(&uri)).await
}
