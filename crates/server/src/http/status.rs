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

/// The body of `/health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the store or NATS is not.
    pub status: &'static str,
    /// Always `natsapi`.
    pub service: &'static str,
    /// The server's version.
    pub version: &'static str,
    /// The store.
    pub store: StoreHealth,
    /// The NATS connection.
    pub nats: NatsHealth,
}

/// The store part of `/health`.
#[derive(Serialize, ToSchema)]
pub struct StoreHealth {
    /// `memory` or `sqlite`.
    pub kind: &'static str,
    /// `ok`, or the error of a ping.
    pub status: String,
}

/// The NATS part of `/health`.
#[derive(Serialize, ToSchema)]
pub struct NatsHealth {
    /// Whether the NATS API is enabled.
    pub enabled: bool,
    /// The connection's state, when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
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
    let nats_state = state.nats.as_ref().map(|c| c.connection_state());
    let nats_ok =
        nats_state.as_ref().is_none_or(|s| matches!(s, async_nats::connection::State::Connected));
    let healthy = store.is_ok() && nats_ok;
    let body = Health {
        status: if healthy { "ok" } else { "unavailable" },
        service: "natsapi",
        version: env!("CARGO_PKG_VERSION"),
        store: StoreHealth {
            kind: state.api.store().kind(),
            status: match &store {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.to_string(),
            },
        },
        nats: NatsHealth {
            enabled: nats_state.is_some(),
            status: nats_state.as_ref().map(ToString::to_string),
        },
    };
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

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
