//! The HTTP listener: `/health` (process, NATS connection, store), `/metrics` (Prometheus) and
//! the Resonate-compatible API of spec §12.1, which runs through the same operation table as the
//! NATS transport. Every response carries `Resonate-Version` and echoes (or makes) `request-id`.

pub mod callbacks;
pub mod error;
pub mod locks;
pub mod promises;
pub mod schedules;
pub mod tasks;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use self::error::HttpError;

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
        .merge(promises::routes())
        .merge(callbacks::routes())
        .merge(tasks::routes())
        .merge(schedules::routes())
        .merge(locks::routes())
        .nest("/poll", crate::poll::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(common_headers))
        .with_state(state)
}

/// The response header naming the server's version.
pub const RESONATE_VERSION: HeaderName = HeaderName::from_static("resonate-version");
/// The request header a caller may set to name its request; echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// Sets `Resonate-Version` on every response, and `request-id` to the caller's (or a new one).
async fn common_headers(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .cloned()
        .or_else(|| HeaderValue::from_str(&nuid::next().to_string()).ok());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(RESONATE_VERSION, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
    if let Some(id) = request_id {
        headers.insert(REQUEST_ID, id);
    }
    response
}

async fn unknown_route(method: Method, uri: Uri) -> HttpError {
    HttpError::from_status(StatusCode::NOT_FOUND, format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> HttpError {
    HttpError::from_status(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not allow {method}", uri.path()),
    )
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
