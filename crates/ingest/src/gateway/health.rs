//! `GET /health` and `GET /ready`: the same answer, in the shape of the API server's `/health`
//! (`{status, service, version, checks: {nats, store}}`), so one probe reads both services. 200
//! when NATS is connected and the gateway's database answers, else 503 naming which is not.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::Gateway;

/// A check that passed.
const OK: &str = "ok";

/// `GET /health` (and `GET /ready`): `{status, service, version, checks: {nats, store}}`.
pub(super) async fn health(State(gateway): State<Gateway>) -> impl IntoResponse {
    let shared = &gateway.shared;
    let nats = match shared.nats.connection_state() {
        async_nats::connection::State::Connected => OK.to_owned(),
        other => other.to_string(),
    };
    let store = match crate::db::run(&shared.store, crate::db::Ping).await {
        Ok(()) => OK.to_owned(),
        Err(e) => e.to_string(),
    };
    let healthy = nats == OK && store == OK;
    let body = json!({
        "status": if healthy { OK } else { "unavailable" },
        "service": "natsapi-ingest",
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {"nats": nats, "store": store},
    });
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}
