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

/// Whether `given` equals `expected`, in a time that reveals neither where they differ nor how
/// long the secret is: both are hashed to fixed-length digests, compared in constant time.
fn same(given: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(given).ct_eq(&Sha256::digest(expected)).into()
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::same;

    #[test]
    fn compares_values() {
        assert!(same(b"Bearer secret", b"Bearer secret"));
        assert!(!same(b"Bearer secreT", b"Bearer secret"));
        assert!(!same(b"Bearer secret", b"Bearer secret!"));
        assert!(!same(b"", b"Bearer secret"));
    }

    /// The time of a comparison must not tell the length of the secret: a presented value of the
    /// wrong length costs as much as one of the right length (an early return on a length
    /// mismatch answered in nanoseconds). The secret is large so that the difference is
    /// milliseconds, far above scheduling noise; the fastest of several runs is compared.
    #[test]
    fn a_length_mismatch_takes_as_long_as_a_mismatch_of_equal_length() {
        let expected = vec![b'a'; 1 << 20];
        let same_length = vec![b'b'; 1 << 20];
        let fastest = |given: &[u8]| {
            (0..5)
                .map(|_| {
                    let started = Instant::now();
                    assert!(!same(given, &expected));
                    started.elapsed()
                })
                .min()
                .unwrap_or(Duration::ZERO)
        };
        let short = fastest(b"x");
        let full = fastest(&same_length);
        assert!(short * 4 >= full, "length mismatch {short:?}, same length {full:?}");
    }
}
