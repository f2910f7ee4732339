//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`. The handlers carry
//! `#[utoipa::path]` and each module's `routes()` registers them with `utoipa_axum::routes!`, so
//! the router and the document come from the same list; [`finish`] adds what every route shares
//! and turns axum's wildcard paths into OpenAPI parameters.

pub mod common;
pub mod params;
pub mod paths;
pub mod requests;
pub mod responses;
pub mod schemas;

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::{Info, OpenApi};

/// The tag of the service routes (`/health`, `/metrics`, `/openapi.json`).
pub const SERVICE_TAG: &str = "service";

/// The serialized document, shared by the `/openapi.json` handler (cloning it shares the bytes).
#[derive(Clone)]
pub struct OpenApiJson(pub Bytes);

/// Completes the document the router collected: title and version, the security schemes, the
/// parts every route shares ([`common::add`]) and OpenAPI path keys ([`paths::fix_path_keys`]).
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let mut info = Info::new("natsapi", env!("CARGO_PKG_VERSION"));
    info.description = Some(
        "The Resonate-compatible HTTP API of natsapi (durable promises, callbacks, tasks, \
         schedules, locks), the SSE poller and the service routes. Every request may name itself \
         with `request-id`; every response carries `Resonate-Version` and `request-id`. Errors \
         are `{\"error\":{\"code\",\"message\",\"details\"}}`, with HTTP status = code / 100."
            .to_owned(),
    );
    doc.info = info;
    common::add(&mut doc);
    paths::fix_path_keys(&mut doc);
    doc
}

/// The document as JSON text.
pub fn to_json(doc: &OpenApi) -> Bytes {
    // Serializing plain data into a string cannot fail; keep an empty object if it ever does.
    Bytes::from(doc.to_json().unwrap_or_else(|_| "{}".to_owned()))
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    operation_id = "openapiDocument",
    path = "/openapi.json",
    tag = SERVICE_TAG,
    summary = "The OpenAPI document of this API",
    description = "This OpenAPI 3.1 document, generated from the server's handlers.",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json",
            body = Object),
    ),
)]
pub async fn document(Extension(json): Extension<OpenApiJson>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json.0)
}
