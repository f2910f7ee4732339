//! The lock routes of spec §11 and §12.1: the body is the payload of the matching NATS
//! operation.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::HttpState;
use super::error::Body as ErrorResponse;
use super::openapi::schemas::{Lock, LocksAffected};
use super::promises::{body_payload, run};

/// The lock routes: `POST /locks/{acquire,release,heartbeat}`.
pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(acquire))
        .routes(routes!(release))
        .routes(routes!(heartbeat))
}

/// The tag of the lock routes in the OpenAPI document.
const TAG: &str = "locks";

/// `POST /locks/acquire` with body `{resourceId, executionId, processId, ttl}`: 201 with the
/// lock, or 403 when another execution holds it.
#[utoipa::path(
    post,
    operation_id = "acquireLock",
    path = "/locks/acquire",
    tag = TAG,
    summary = "Acquire a lock",
    description = "Locks `resourceId` for `executionId` until `ttl` ms from now (re-entrant for \
        the same execution; spec §11).",
    request_body = crate::operations::locks::AcquirePayload,
    responses(
        (status = 201, description = "Acquired", body = Lock),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
        (status = 403, description = "Another execution holds it (40304)", body = ErrorResponse),
    ),
)]
async fn acquire(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "locks.acquire", body_payload(body)).await
}

/// `POST /locks/release` with body `{resourceId, executionId}`: 204 with no body, or 404.
#[utoipa::path(
    post,
    operation_id = "releaseLock",
    path = "/locks/release",
    tag = TAG,
    summary = "Release a lock",
    request_body = crate::operations::locks::ReleasePayload,
    responses(
        (status = 204, description = "Released (no body)"),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
        (status = 404, description = "The execution holds no lock on it (40402)",
            body = ErrorResponse),
    ),
)]
async fn release(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "locks.release", body_payload(body)).await
}

/// `POST /locks/heartbeat` with body `{processId}`: 200 with `{locksAffected}`.
#[utoipa::path(
    post,
    operation_id = "heartbeatLocks",
    path = "/locks/heartbeat",
    tag = TAG,
    summary = "Heartbeat a process's locks",
    description = "Extends every unexpired lock the process holds.",
    request_body = crate::operations::HeartbeatPayload,
    responses(
        (status = 200, description = "How many locks were extended", body = LocksAffected),
        (status = 400, description = "A field is invalid (40000)", body = ErrorResponse),
    ),
)]
async fn heartbeat(
    State(state): State<HttpState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "locks.heartbeat", body_payload(body)).await
}
