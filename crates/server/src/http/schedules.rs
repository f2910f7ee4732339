//! The schedule routes of spec §10 and §12.1: create (with the `Idempotency-Key` header), search,
//! read and delete, each the payload of the matching NATS operation.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::HttpState;
use super::error::{Body as ErrorResponse, HttpError};
use super::openapi::params::{IdempotencyHeader, SchedulePath, ScheduleSearchQuery};
use super::openapi::schemas::{Schedule, SchedulePage};
use super::promises::{
    body_object, header_text, path_id, query_first, query_limit, query_pairs, query_tags, raw, run,
};

/// The schedule routes: `POST|GET /schedules`, `GET|DELETE /schedules/{*id}`.
pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new().routes(routes!(search, create)).routes(routes!(read, delete))
}

/// The tag of the schedule routes in the OpenAPI document.
const TAG: &str = "schedules";

/// `POST /schedules` with body `{id, desc?, cron, tags?, promiseId, promiseTimeout,
/// promiseParam?, promiseTags?}` and the `Idempotency-Key` header: 201, or 200 when the schedule
/// exists with the same key.
#[utoipa::path(
    post,
    operation_id = "createSchedule",
    path = "/schedules",
    tag = TAG,
    summary = "Create a schedule",
    description = "Creates the schedule `id`, which creates a promise on every tick of `cron` \
        (spec §10).",
    params(IdempotencyHeader),
    request_body = crate::operations::schedules::CreatePayload,
    responses(
        (status = 201, description = "Created", body = Schedule),
        (status = 200, description = "It exists with the same idempotency key", body = Schedule),
        (status = 400, description = "A field (such as the cron) is invalid (40000)",
            body = ErrorResponse),
        (status = 409, description = "The schedule exists (40901)", body = ErrorResponse),
    ),
)]
async fn create(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payload = body_object(body).and_then(|mut fields| {
        fields.remove("idempotencyKey");
        if let Some(key) = header_text(&headers, "idempotency-key")? {
            fields.insert("idempotencyKey".into(), raw(key)?);
        }
        raw(&fields)
    });
    run(&state, "schedules.create", payload).await
}

/// The id of a `/schedules/{*id}` path as the payload `{id}`.
fn id_payload(path: Result<Path<String>, PathRejection>) -> Result<Box<RawValue>, HttpError> {
    let id = path_id(path)?;
    raw(&BTreeMap::from([("id", id)]))
}

/// `GET /schedules/{*id}`.
#[utoipa::path(
    get,
    operation_id = "readSchedule",
    path = "/schedules/{*id}",
    tag = TAG,
    summary = "Read a schedule",
    params(SchedulePath),
    responses(
        (status = 200, description = "The schedule", body = Schedule),
        (status = 400, description = "The path is invalid (40000)", body = ErrorResponse),
        (status = 404, description = "No such schedule (40401)", body = ErrorResponse),
    ),
)]
async fn read(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    run(&state, "schedules.read", id_payload(path)).await
}

/// `DELETE /schedules/{*id}`: 204 with no body.
#[utoipa::path(
    delete,
    operation_id = "deleteSchedule",
    path = "/schedules/{*id}",
    tag = TAG,
    summary = "Delete a schedule",
    description = "Deletes the schedule; the promises it made stay.",
    params(SchedulePath),
    responses(
        (status = 204, description = "Deleted (no body)"),
        (status = 400, description = "The path is invalid (40000)", body = ErrorResponse),
        (status = 404, description = "No such schedule (40401)", body = ErrorResponse),
    ),
)]
async fn delete(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    run(&state, "schedules.delete", id_payload(path)).await
}

/// The payload of `schedules.search`.
#[derive(Serialize)]
struct SearchPayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
}

/// The search payload for the query `id=&tags[k]=v&limit=&cursor=` (first value wins).
fn search_payload(uri: &Uri) -> Result<Box<RawValue>, HttpError> {
    let pairs = query_pairs(uri)?;
    let limit = query_limit(&pairs)?;
    raw(&SearchPayload {
        id: query_first(&pairs, "id"),
        tags: query_tags(&pairs),
        limit,
        cursor: query_first(&pairs, "cursor"),
    })
}

/// `GET /schedules?id=&tags[k]=v&limit=&cursor=`: `{schedules, cursor}`.
#[utoipa::path(
    get,
    operation_id = "searchSchedules",
    path = "/schedules",
    tag = TAG,
    summary = "Search schedules",
    description = "Schedules whose id matches the pattern (and tags), newest first, a page at a \
        time.",
    params(ScheduleSearchQuery),
    responses(
        (status = 200, description = "One page", body = SchedulePage),
        (status = 400, description = "A parameter or the cursor is invalid (40000)",
            body = ErrorResponse),
    ),
)]
async fn search(State(state): State<HttpState>, uri: Uri) -> Response {
    run(&state, "schedules.search", search_payload(&uri)).await
}
