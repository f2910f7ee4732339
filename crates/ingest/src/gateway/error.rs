//! The gateway's error responses: `{"error":{"code","message"}}` with the HTTP status, and
//! `Retry-After` when the client should try again.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct GatewayError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, naming the input at fault.
    pub message: String,
}

impl GatewayError {
    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        GatewayError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// A 422: the `Idempotency-Key` that makes message `message_id` was sent before with another
    /// message (another body or entity type). Nothing is stored.
    pub fn key_conflict(message_id: uuid::Uuid) -> Self {
        GatewayError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!(
                "Idempotency-Key conflict: message {message_id} was accepted under this key with \
                 another body or entity type; send a new message with a new key"
            ),
        }
    }

    /// A 409: wallet `wallet` sent a call with id `id` before, with another method or other
    /// params. Nothing is stored.
    pub fn call_conflict(id: &str, wallet: &str) -> Self {
        GatewayError {
            status: StatusCode::CONFLICT,
            message: format!(
                "id {id:?} of wallet {wallet} was used for another call (another method or other \
                 params); a retry must send the same method and params, a new call a new id"
            ),
        }
    }

    /// A 503: try again later (the response carries `Retry-After`).
    pub fn unavailable(message: impl Into<String>) -> Self {
        GatewayError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }
}

/// Seconds a client should wait before retrying after a 503.
pub(super) const RETRY_AFTER_SECONDS: &str = "1";

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let code = u32::from(self.status.as_u16()) * 100;
        let body = Json(json!({"error": {"code": code, "message": self.message}}));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}
