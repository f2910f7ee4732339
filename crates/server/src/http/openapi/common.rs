//! What every operation of the document shares, added in one place rather than on each handler:
//! the `request-id` and trace-context headers, the `Resonate-Version` and `request-id` response headers, the
//! optional credentials (401) and the store's 500.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, Header, ObjectBuilder, OpenApi, Ref, Required, Type};

/// The name of the error body's schema.
pub const ERROR_SCHEMA: &str = "ErrorResponse";

/// Routes the credentials check lets through (see `http::auth::require`).
const OPEN_ROUTES: [&str; 2] = ["/health", "/metrics"];

/// Adds the shared parameters, headers, responses and security schemes to every operation.
pub fn add(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Components::new);
    let note = "Only when the server is configured with credentials (YAML \
                `api.subsystems.http.auth`); otherwise no `Authorization` is needed.";
    for (name, scheme) in [("bearer", HttpAuthScheme::Bearer), ("basic", HttpAuthScheme::Basic)] {
        let mut http = Http::new(scheme);
        http.description = Some(note.to_owned());
        components.security_schemes.insert(name.to_owned(), SecurityScheme::Http(http).into());
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let open = OPEN_ROUTES.contains(&path.as_str());
        for operation in operations(item) {
            add_request_headers(operation);
            if !open {
                add_credentials(operation);
            }
            if operation.tags.as_ref().is_none_or(|t| !t.iter().any(|t| t == super::SERVICE_TAG))
                && !path.starts_with("/poll/")
            {
                add_error(operation, "500", "The store failed (50000 and up)");
            }
            add_response_headers(operation);
        }
    }
}

/// The operations of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// A string schema.
fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// The optional request headers every route reads: `request-id` and the W3C trace context
/// (passed on into the messages of the tasks the request makes).
fn add_request_headers(operation: &mut Operation) {
    let headers = [
        ("request-id", "Names the request; echoed on the response (made up when absent)."),
        ("traceparent", "W3C trace context; tasks the request makes carry it to their workers."),
        ("tracestate", "W3C trace state, passed on with `traceparent`."),
    ];
    for (name, description) in headers {
        let parameter = ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(string()))
            .build();
        operation.parameters.get_or_insert_with(Vec::new).push(parameter.into());
    }
}

/// The optional credentials: a 401 and the security requirement (none, bearer or basic).
fn add_credentials(operation: &mut Operation) {
    operation.security = Some(vec![
        SecurityRequirement::default(),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("basic", Vec::<String>::new()),
    ]);
    add_error(
        operation,
        "401",
        "Credentials are configured and `Authorization` lacks them (40100); \
         `WWW-Authenticate` names the scheme",
    );
}

/// An error response with the error body, unless the operation already documents that status.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    if operation.responses.responses.contains_key(status) {
        return;
    }
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::Content::new(Some(Ref::from_schema_name(ERROR_SCHEMA))),
        )
        .build();
    operation.responses.responses.insert(status.to_owned(), response.into());
}

/// `Resonate-Version` and `request-id` on every response.
fn add_response_headers(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        let utoipa::openapi::RefOr::T(response) = response else { continue };
        for (name, description) in [
            ("Resonate-Version", "The server's version"),
            ("request-id", "The request's `request-id`, or a new one"),
        ] {
            let mut header = Header::new(string());
            header.description = Some(description.to_owned());
            response.headers.insert(name.to_owned(), header.into());
        }
    }
}
