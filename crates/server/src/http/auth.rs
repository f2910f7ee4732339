//! The optional credentials of the HTTP API (YAML `api.subsystems.http.auth`): a bearer token or
//! a user and password, checked on every route but `/health`, `/metrics` and CORS preflights.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::error::HttpError;

/// What requests must present in `Authorization`.
#[derive(Clone, PartialEq, Eq)]
pub enum HttpAuth {
    /// `Bearer <token>`.
    Bearer(String),
    /// `Basic <base64(username:password)>`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for HttpAuth {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpAuth::Bearer(_) => f.write_str("HttpAuth::Bearer(..)"),
            HttpAuth::Basic { username, .. } => write!(f, "HttpAuth::Basic({username}, ..)"),
        }
    }
}

impl HttpAuth {
    /// The `Authorization` value this expects.
    fn expected(&self) -> String {
        match self {
            HttpAuth::Bearer(token) => format!("Bearer {token}"),
            HttpAuth::Basic { username, password } => {
                let pair = format!("{username}:{password}");
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
            }
        }
    }

    /// The `WWW-Authenticate` challenge of a refusal.
    fn challenge(&self) -> &'static str {
        match self {
            HttpAuth::Bearer(_) => "Bearer realm=\"natsapi\"",
            HttpAuth::Basic { .. } => "Basic realm=\"natsapi\"",
        }
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the secret.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses (401, code 40100) a request without the configured credentials.
pub async fn require(State(auth): State<HttpAuth>, request: Request, next: Next) -> Response {
    let open = request.method() == Method::OPTIONS
        || matches!(request.uri().path(), "/health" | "/metrics");
    let presented = request.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if open || presented.is_some_and(|given| same(given, auth.expected().as_bytes())) {
        return next.run(request).await;
    }
    let message = if presented.is_some() {
        "the credentials in Authorization are not valid"
    } else {
        "this server requires credentials in Authorization"
    };
    // 40100 answers with status 401.
    let mut response = HttpError { code: 40100, message: message.to_owned() }.into_response();
    if let Ok(challenge) = header::HeaderValue::from_str(auth.challenge()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}
