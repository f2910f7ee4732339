//! The HTTP listener: `/health` (process, NATS connection, store), `/metrics` (Prometheus) and
//! the Resonate-compatible API of spec §12.1, which runs through the same operation table as the
//! NATS transport. Every response carries `Resonate-Version` and echoes (or makes) `request-id`.
//! `GET /openapi.json` describes every route; the router and that document are built from the
//! same `utoipa_axum::routes!` lists.

pub mod auth;
pub mod callbacks;
pub mod error;
pub mod locks;
pub mod openapi;
pub mod promises;
pub mod schedules;
pub mod status;
pub mod tasks;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;

use self::error::HttpError;

use crate::api::Api;

/// What the HTTP handlers need.
#[derive(Clone)]
pub struct HttpState {
    /// The API (for the store).
    pub api: Api,
    /// The NATS connection, when the NATS API is enabled.
    pub nats: Option<async_nats::Client>,
    /// The credentials requests must carry, when configured.
    pub auth: Option<auth::HttpAuth>,
}

/// Every route with its documentation: the service routes, the Resonate API and the SSE poller
/// under `/poll`.
pub fn documented_routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .merge(status::routes())
        .merge(promises::routes())
        .merge(callbacks::routes())
        .merge(tasks::routes())
        .merge(schedules::routes())
        .merge(locks::routes())
        .nest("/poll", crate::poll::routes())
}

/// The HTTP routes, behind CORS and (when configured) the credentials check. Registers the
/// metric series of the transports that run, so that `/metrics` lists them from the start.
pub fn router(state: HttpState) -> Router {
    crate::metrics::register(state.nats.is_some());
    let (routes, doc) = documented_routes().split_for_parts();
    let json = openapi::OpenApiJson(openapi::to_json(&openapi::finish(doc)));
    let routes = routes
        .layer(Extension(json))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed);
    with_auth(routes, state.auth.clone())
        .layer(axum::middleware::from_fn(common_headers))
        .layer(cors())
        .with_state(state)
}

/// `routes` behind the credentials check, when credentials are configured. The HTTP API and the
/// poll listener both go through here, so both ports ask for the same credentials.
pub fn with_auth<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    credentials: Option<auth::HttpAuth>,
) -> Router<S> {
    match credentials {
        Some(credentials) => {
            routes.layer(axum::middleware::from_fn_with_state(credentials, auth::require))
        }
        None => routes,
    }
}

/// CORS for browsers calling the API: any origin, the methods and headers the Resonate routes
/// use, and the response headers a client reads.
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
    let allowed = [
        AUTHORIZATION,
        CONTENT_TYPE,
        HeaderName::from_static("idempotency-key"),
        HeaderName::from_static("strict"),
        REQUEST_ID,
        HeaderName::from_static("task-id"),
        HeaderName::from_static("task-counter"),
        HeaderName::from_static("traceparent"),
        HeaderName::from_static("tracestate"),
    ];
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers(allowed)
        .expose_headers([RESONATE_VERSION, REQUEST_ID])
}

/// The response header naming the server's version.
pub const RESONATE_VERSION: HeaderName = HeaderName::from_static("resonate-version");
/// The request header a caller may set to name its request; echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// Sets `Resonate-Version` on every response, and `request-id` to the caller's (or a new one);
/// runs the request in its trace context (`traceparent`, `tracestate`).
async fn common_headers(request: Request, next: Next) -> Response {
    let trace = crate::trace::TraceContext::from_lookup(|name| {
        request.headers().get(name).and_then(|v| v.to_str().ok())
    });
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .cloned()
        .or_else(|| HeaderValue::from_str(&nuid::next().to_string()).ok());
    let mut response = crate::trace::scope(trace, next.run(request)).await;
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
