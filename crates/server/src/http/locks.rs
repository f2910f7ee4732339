//! The lock routes of spec §11 and §12.1: the body is the payload of the matching NATS
//! operation.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use axum::routing::post;

use super::HttpState;
use super::promises::{body_payload, run};

/// The lock routes: `POST /locks/{acquire,release,heartbeat}`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/locks/acquire", post(acquire))
        .route("/locks/release", post(release))
        .route("/locks/heartbeat", post(heartbeat))
}

/// `POST /locks/acquire` with body `{resourceId, executionId, processId, ttl}`: 201 with the
/// lock, or 403 when another execution holds it.
async fn acquire(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "locks.acquire", body_payload(body)).await
}

/// `POST /locks/release` with body `{resourceId, executionId}`: 204 with no body, or 404.
async fn release(State(state): State<HttpState>, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, "locks.release", body_payload(body)).await
}

/// `POST /locks/heartbeat` with body `{processId}`: 200 with `{locksAffected}`.
async fn heartbeat(
    State(state): State<HttpState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&state, "locks.heartbeat", body_payload(body)).await
}
