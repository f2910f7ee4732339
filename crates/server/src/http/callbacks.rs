//! The callback and subscription routes of spec §8 and §12.1: `POST /promises/callback/{*id}`,
//! `POST /promises/subscribe/{*id}` and the deprecated `POST /callbacks` and `POST
//! /subscriptions`, which name the promise in the body. Each becomes the payload of
//! `promises.callback` or `promises.subscribe`.
//!
//! `GET` and `PATCH` under `/promises/callback/` and `/promises/subscribe/` still read and
//! complete the promise of that id, as they would without these routes.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::HttpState;
use super::error::{Body as ErrorResponse, HttpError};
use super::openapi::params::{FenceHeaders, PromisePath, WriteHeaders};
use super::openapi::requests::{PromiseCallbackBody, PromiseSubscribeBody};
use super::openapi::responses::{CompletePromiseResponses, ReadPromiseResponses};
use super::openapi::schemas::CallbackResponse;
use super::promises::{self, body_object, body_payload, path_id, raw, run};

/// The tag of the callback and subscription routes in the OpenAPI document.
const TAG: &str = "callbacks";

/// The callback and subscription routes.
#[allow(deprecated)] // The deprecated routes are still served (and documented as deprecated).
pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(callback, read_under_callback, complete_under_callback))
        .routes(routes!(subscribe, read_under_subscribe, complete_under_subscribe))
        .routes(routes!(callback_deprecated))
        .routes(routes!(subscribe_deprecated))
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
#[utoipa::path(
    post,
    operation_id = "createCallback",
    path = "/promises/callback/{*id}",
    tag = TAG,
    summary = "Register a callback",
    description = "When the promise `id` completes, a resume task for the execution of \
        `rootPromiseId` goes to `recv` (spec §8).",
    params(PromisePath, FenceHeaders),
    request_body = PromiseCallbackBody,
    responses(
        (status = 201, description = "Registered", body = CallbackResponse),
        (status = 200, description = "Nothing new registered (the promise is completed, or the \
            callback exists): `callback` is null", body = CallbackResponse),
        (status = 400, description = "A field or the path is invalid (40000)", body = ErrorResponse),
        (status = 404, description = "No such promise (40400)", body = ErrorResponse),
        (status = 412, description = "The fencing headers name no task claimed at that counter \
            (41200)", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    post,
    operation_id = "createSubscription",
    path = "/promises/subscribe/{*id}",
    tag = TAG,
    summary = "Subscribe to a promise",
    description = "When the promise `id` completes, a notify task carrying it goes to `recv` \
        (spec §8).",
    params(PromisePath),
    request_body = PromiseSubscribeBody,
    responses(
        (status = 201, description = "Subscribed", body = CallbackResponse),
        (status = 200, description = "Nothing new registered (the promise is completed, or the \
            subscription exists): `callback` is null", body = CallbackResponse),
        (status = 400, description = "A field or the path is invalid (40000)", body = ErrorResponse),
        (status = 404, description = "No such promise (40400)", body = ErrorResponse),
    ),
)]
async fn subscribe(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "promises.subscribe", with_promise_id(path, body)).await
}

/// Deprecated `POST /callbacks` with body `{promiseId, rootPromiseId, recv, timeout?}`.
#[utoipa::path(
    post,
    operation_id = "createCallbackDeprecated",
    path = "/callbacks",
    tag = TAG,
    summary = "Register a callback (deprecated form)",
    description = "`POST /promises/callback/{id}` with the promise named in the body.",
    params(FenceHeaders),
    request_body = crate::operations::tasks::CallbackPayload,
    responses(
        (status = 201, description = "Registered", body = CallbackResponse),
        (status = 200, description = "Nothing new registered: `callback` is null",
            body = CallbackResponse),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
        (status = 404, description = "No such promise (40400)", body = ErrorResponse),
        (status = 412, description = "The fencing headers name no task claimed at that counter \
            (41200)", body = ErrorResponse),
    ),
)]
#[deprecated = "use POST /promises/callback/{id}"]
async fn callback_deprecated(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "promises.callback", fenced(body_payload(body), &headers)).await
}

/// Deprecated `POST /subscriptions` with body `{promiseId, id, recv, timeout?}`.
#[utoipa::path(
    post,
    operation_id = "createSubscriptionDeprecated",
    path = "/subscriptions",
    tag = TAG,
    summary = "Subscribe to a promise (deprecated form)",
    description = "`POST /promises/subscribe/{id}` with the promise named in the body.",
    request_body = crate::operations::tasks::SubscribePayload,
    responses(
        (status = 201, description = "Subscribed", body = CallbackResponse),
        (status = 200, description = "Nothing new registered: `callback` is null",
            body = CallbackResponse),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
        (status = 404, description = "No such promise (40400)", body = ErrorResponse),
    ),
)]
#[deprecated = "use POST /promises/subscribe/{id}"]
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
#[utoipa::path(
    get,
    operation_id = "readPromiseUnderCallback",
    path = "/promises/callback/{*id}",
    tag = super::promises::TAG,
    summary = "Read the promise `callback/{id}`",
    description = "`GET /promises/{id}` for a promise whose id starts with `callback/`.",
    params(PromisePath),
    responses(ReadPromiseResponses),
)]
async fn read_under_callback(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    promises::read(state, prefixed("callback/", path)).await
}

/// `PATCH /promises/callback/{*id}`: completes the promise `callback/<id>`.
#[utoipa::path(
    patch,
    operation_id = "completePromiseUnderCallback",
    path = "/promises/callback/{*id}",
    tag = super::promises::TAG,
    summary = "Complete the promise `callback/{id}`",
    description = "`PATCH /promises/{id}` for a promise whose id starts with `callback/`.",
    params(PromisePath, WriteHeaders),
    request_body = crate::operations::promises::CompletePayload,
    responses(CompletePromiseResponses),
)]
async fn complete_under_callback(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    promises::complete(state, prefixed("callback/", path), headers, body).await
}

/// `GET /promises/subscribe/{*id}`: reads the promise `subscribe/<id>`.
#[utoipa::path(
    get,
    operation_id = "readPromiseUnderSubscribe",
    path = "/promises/subscribe/{*id}",
    tag = super::promises::TAG,
    summary = "Read the promise `subscribe/{id}`",
    description = "`GET /promises/{id}` for a promise whose id starts with `subscribe/`.",
    params(PromisePath),
    responses(ReadPromiseResponses),
)]
async fn read_under_subscribe(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    promises::read(state, prefixed("subscribe/", path)).await
}

/// `PATCH /promises/subscribe/{*id}`: completes the promise `subscribe/<id>`.
#[utoipa::path(
    patch,
    operation_id = "completePromiseUnderSubscribe",
    path = "/promises/subscribe/{*id}",
    tag = super::promises::TAG,
    summary = "Complete the promise `subscribe/{id}`",
    description = "`PATCH /promises/{id}` for a promise whose id starts with `subscribe/`.",
    params(PromisePath, WriteHeaders),
    request_body = crate::operations::promises::CompletePayload,
    responses(CompletePromiseResponses),
)]
async fn complete_under_subscribe(
    state: State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    promises::complete(state, prefixed("subscribe/", path), headers, body).await
}
