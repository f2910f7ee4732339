//! The callback and subscription routes of spec §8 and §12.1: `POST /promises/callback/{*id}`,
//! `POST /promises/subscribe/{*id}` and the deprecated `POST /callbacks` and `POST
//! /subscriptions`, which name the promise in the body. Each becomes the payload of
//! `promises.callback` or `promises.subscribe`.
//!
//! `GET` and `PATCH` under `/promises/callback/` and `/promises/subscribe/` still read and
//! complete the promise of that id, as they would without these routes.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde_json::value::RawValue;

use super::HttpState;
use super::error::HttpError;
use super::promises::{self, body_object, body_payload, path_id, raw, run};

/// The callback and subscription routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route(
            "/promises/callback/{*id}",
            post(callback).get(read_under_callback).patch(complete_under_callback),
        )
        .route(
            "/promises/subscribe/{*id}",
            post(subscribe).get(read_under_subscribe).patch(complete_under_subscribe),
        )
        .route("/callbacks", post(callback_deprecated))
        .route("/subscriptions", post(subscribe_deprecated))
}

/// The body as a payload whose `promiseId` is the path's id.
fn with_promise_id(
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Box<RawValue>, HttpError> {
    let id = path_id(path)?;
    let mut fields = body_object(body)?;
    fields.insert("promiseId".into(), raw(&id)?);
    raw(&fields)
}

/// `payload` with the fencing headers added (`Task-Id`, `Task-Counter`).
fn fenced(
    payload: Result<Box<RawValue>, HttpError>,
    headers: &HeaderMap,
) -> Result<Box<RawValue>, HttpError> {
    let mut fields: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(payload?.get())
            .map_err(|e| HttpError::bad_request(format!("body: {e}")))?;
    promises::add_fence_headers(&mut fields, headers)?;
    raw(&fields)
}

/// `POST /promises/callback/{*id}` with body `{rootPromiseId, recv, timeout?}` (and the fencing
/// headers): resume the execution of `rootPromiseId` when the promise `id` completes; answers
/// `{callback, promise}`.
async fn callback(
    State(state): State<HttpState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "promises.callback", fenced(with_promise_id(path, body), &headers)).await
}

/// `POST /promises/subscribe/{*id}` with body `{id, recv, timeout?}`: notify `recv` when the
/// promise completes; answers `{callback, promise}`.
async fn subscribe(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "promises.subscribe", with_promise_id(path, body)).await
}

/// Deprecated `POST /callbacks` with body `{promiseId, rootPromiseId, recv, timeout?}`.
async fn callback_deprecated(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "promises.callback", fenced(body_payload(body), &headers)).await
}

/// Deprecated `POST /subscriptions` with body `{promiseId, id, recv, timeout?}`.
async fn subscribe_deprecated(
    State(state): State<HttpState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "promises.subscribe", body_payload(body)).await
}

/// The promise id `<prefix><rest of the path>`.
fn prefixed(
    prefix: &str,
    path: Result<Path<String>, PathRejection>,
) -> Result<Path<String>, PathRejection> {
    path.map(|Path(rest)| Path(format!("{prefix}{rest}")))
}

/// `GET /promises/callback/{*id}`: reads the promise `callback/<id>`.
async fn read_under_callback(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    promises::read(state, prefixed("callback/", path)).await
}

/// `PATCH /promises/callback/{*id}`: completes the promise `callback/<id>`.
async fn complete_under_callback(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    promises::complete(state, prefixed("callback/", path), headers, body).await
}

/// `GET /promises/subscribe/{*id}`: reads the promise `subscribe/<id>`.
async fn read_under_subscribe(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    promises::read(state, prefixed("subscribe/", path)).await
}

/// `PATCH /promises/subscribe/{*id}`: completes the promise `subscribe/<id>`.
async fn complete_under_subscribe(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    promises::complete(state, prefixed("subscribe/", path), headers, body).await
}
