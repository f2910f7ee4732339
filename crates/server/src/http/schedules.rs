//! The schedule routes of spec §10 and §12.1: create (with the `Idempotency-Key` header), search,
//! read and delete, each the payload of the matching NATS operation.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use serde_json::value::RawValue;

use super::HttpState;
use super::error::HttpError;
use super::promises::{
    body_object, header_text, path_id, query_first, query_limit, query_pairs, query_tags, raw, run,
};

/// The schedule routes: `POST|GET /schedules`, `GET|DELETE /schedules/{*id}`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/schedules", get(search).post(create))
        .route("/schedules/{*id}", get(read).delete(delete))
}

/// `POST /schedules` with body `{id, desc?, cron, tags?, promiseId, promiseTimeout,
/// promiseParam?, promiseTags?}` and the `Idempotency-Key` header: 201, or 200 when the schedule
/// exists with the same key.
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
async fn read(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    run(&state, "schedules.read", id_payload(path)).await
}

/// `DELETE /schedules/{*id}`: 204 with no body.
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
async fn search(State(state): State<HttpState>, uri: Uri) -> Response {
    run(&state, "schedules.search", search_payload(&uri)).await
}
