//! `GET /health` (the process answers) and `GET /ready` (NATS connected and
//! the database answering).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::Gateway;

/// `GET /health`: `{status, service, version}`.
pub(super) async fn health() -> impl IntoResponse {
    Json(json!({
        "status": "healthy",
        "service": "natsapi-ingest",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /ready`: 200 when NATS is connected and the database answers, else 503 naming which.
pub(super) async fn ready(State(gateway): State<Gateway>) -> impl IntoResponse {
    let shared = &gateway.shared;
    let nats = shared.nats.connection_state();
    let nats_ok = matches!(nats, async_nats::connection::State::Connected);
    let db = shared.db.ping().await;
    let ready = nats_ok && db.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "nats": nats.to_string(),
        "database": match &db { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
    });
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}
