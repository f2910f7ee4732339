//! The HTTP error body of spec §2: `{"error":{"code","message","details"}}`, whose HTTP status is
//! the five-digit code divided by 100.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::api::ApiError;

/// A refused HTTP request: the five-digit code and a message naming the case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HttpError {
    /// The five-digit code (40000, 40400, …); the HTTP status is `code / 100`.
    pub code: u32,
    /// What went wrong.
    pub message: String,
}

impl HttpError {
    /// A 400 (40000) with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        HttpError { code: 40000, message: message.into() }
    }

    /// An error for an HTTP status that has no five-digit code of its own (unknown route,
    /// method not allowed, body too large): the code is `status * 100`.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        HttpError { code: u32::from(status.as_u16()) * 100, message: message.into() }
    }

    /// The HTTP status: the code divided by 100 (500 if that is not a valid status).
    pub fn status(&self) -> StatusCode {
        u16::try_from(self.code / 100)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `@type` of the error's detail: field validation, request or server error.
    fn detail_type(&self) -> &'static str {
        match self.code {
            40000 => "FieldValidationError",
            c if c >= 50000 => "ServerError",
            _ => "RequestError",
        }
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError { code: e.code.number(), message: e.message }
    }
}

/// The error body `{"error":{...}}`; also the `ErrorResponse` schema of the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorResponse)]
pub(crate) struct Body<'a> {
    /// The error.
    error: ErrorBody<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// The five-digit code (40000, 40400, …); the HTTP status is `code / 100`.
    code: u32,
    /// What went wrong, naming the field or case.
    message: &'a str,
    /// One detail, Resonate's shape.
    #[schema(value_type = Vec<Detail<'static>>)]
    details: [Detail<'a>; 1],
}

/// The detail of an error.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub(crate) struct Detail<'a> {
    /// `FieldValidationError` (40000), `RequestError` (other 4xx) or `ServerError` (5xx).
    #[serde(rename = "@type")]
    kind: &'static str,
    /// The error's message.
    message: &'a str,
    /// `request` or `server`.
    domain: &'static str,
}

impl HttpError {
    /// The error body as JSON text.
    pub fn to_json(&self) -> String {
        let domain = if self.code >= 50000 { "server" } else { "request" };
        let body = Body {
            error: ErrorBody {
                code: self.code,
                message: &self.message,
                details: [Detail { kind: self.detail_type(), message: &self.message, domain }],
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            format!(r#"{{"error":{{"code":{},"message":"","details":[]}}}}"#, self.code)
        })
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let text = self.to_json();
        let mut response =
            (self.status(), [(header::CONTENT_TYPE, "application/json")], text).into_response();
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            // Shutting down or overloaded: the request did nothing and may be sent again.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// Seconds a client should wait before sending a request that got a 503 again.
pub(crate) const RETRY_AFTER_SECONDS: &str = "1";
