//! `GET /ingest/status/{message_id}`: the message's row; 404 for an id never accepted, 400 for
//! one that is not a UUID.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::{Gateway, GatewayError};
use crate::db::FindStatus;
use crate::time::rfc3339;

/// `GET /ingest/status/{message_id}`.
pub(super) async fn show(
    State(gateway): State<Gateway>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    match lookup(&gateway, path).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn lookup(
    gateway: &Gateway,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, GatewayError> {
    let Path(text) = path.map_err(|e| GatewayError::bad_request(format!("path: {e}")))?;
    let id = Uuid::parse_str(&text).map_err(|e| {
        GatewayError::bad_request(format!("message_id {text:?} is not a UUID: {e}"))
    })?;
    let found = crate::db::run(&gateway.shared.store, FindStatus { id }).await;
    let row =
        found.map_err(|e| GatewayError::unavailable(format!("cannot read the status: {e}")))?;
    let Some(row) = row else {
        return Err(GatewayError {
            status: StatusCode::NOT_FOUND,
            message: format!("no message {id} was accepted"),
        });
    };
    let body = json!({
        "message_id": row.message_id,
        "status": row.status,
        "entity_type": row.entity_type,
        "source": row.source,
        "attempts": row.attempts,
        "error": row.error,
        "received_at": rfc3339(row.received_at),
        "updated_at": rfc3339(row.updated_at),
        "processed_at": row.processed_at.map(rfc3339),
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}
