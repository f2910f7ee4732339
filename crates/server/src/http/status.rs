//! The service routes: `/health` (process, NATS connection, store) and `/metrics` (Prometheus).
//! Neither needs credentials.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::HttpState;
use super::openapi::SERVICE_TAG;

/// The service routes.
pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics_text))
        .routes(routes!(super::openapi::document))
}

/// The body of `/health`. The ingest gateway's `/health` answers the same shape (with
/// `service` `natsapi-ingest`), so one probe reads both.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when a check is not `ok` (the answer is then a 503).
    pub status: &'static str,
    /// `natsapi`.
    pub service: &'static str,
    /// The server's version.
    pub version: &'static str,
    /// What each dependency answered.
    pub checks: HealthChecks,
}

/// The checks of `/health`: `ok`, or what is wrong.
#[derive(Serialize, ToSchema)]
pub struct HealthChecks {
    /// The NATS connection: `ok`, `disabled` (the NATS API is off; not a failure), or its state
    /// (`disconnected`, `pending`).
    pub nats: String,
    /// The store (memory or SQLite): `ok`, or the error of a ping.
    pub store: String,
}

/// `GET /health`: 200 when the store answers and NATS (if enabled) is connected, else 503.
#[utoipa::path(
    get,
    operation_id = "health",
    path = "/health",
    tag = SERVICE_TAG,
    summary = "Health",
    description = "Whether the store answers and NATS (when enabled) is connected.",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The store or NATS is unavailable", body = Health),
    ),
)]
async fn health(State(state): State<HttpState>) -> impl IntoResponse {
    let store = state.api.store().ping().await;
    let nats = match state.nats.as_ref().map(|c| c.connection_state()) {
        None => DISABLED.to_owned(),
        Some(async_nats::connection::State::Connected) => OK.to_owned(),
        Some(other) => other.to_string(),
    };
    let store = match store {
        Ok(()) => OK.to_owned(),
        Err(e) => e.to_string(),
    };
    let healthy = (nats == OK || nats == DISABLED) && store == OK;
    let body = Health {
        status: if healthy { OK } else { "unavailable" },
        service: "natsapi",
        version: env!("CARGO_PKG_VERSION"),
        checks: HealthChecks { nats, store },
    };
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

/// A check that passed.
const OK: &str = "ok";
/// The NATS check of a server without the NATS API.
const DISABLED: &str = "disabled";

/// `GET /metrics`: the Prometheus text exposition.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = SERVICE_TAG,
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "The metrics, Prometheus text format 0.0.4",
            content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
    ),
)]
async fn metrics_text() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::metrics::render())
}
