//! The HTTP listener: `/health` (process, NATS connection, store) and `/metrics` (Prometheus).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::api::Api;

/// What the HTTP handlers need.
#[derive(Clone)]
pub struct HttpState {
    /// The API (for the store).
    pub api: Api,
    /// The NATS connection, when the NATS API is enabled.
    pub nats: Option<async_nats::Client>,
}

/// The HTTP routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

async fn health(State(state): State<HttpState>) -> impl IntoResponse {
    let store = state.api.store().ping().await;
    let nats_state = state.nats.as_ref().map(|c| c.connection_state());
    let nats_ok =
        nats_state.as_ref().is_none_or(|s| matches!(s, async_nats::connection::State::Connected));
    let healthy = store.is_ok() && nats_ok;
    let body = json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "service": "natsapi",
        "version": env!("CARGO_PKG_VERSION"),
        "store": {
            "kind": state.api.store().kind(),
            "status": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        },
        "nats": match &nats_state {
            None => json!({"enabled": false}),
            Some(s) => json!({"enabled": true, "status": s.to_string()}),
        },
    });
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn metrics_text() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::metrics::render())
}
