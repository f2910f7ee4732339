//! A client for the natsapi NATS API.
//!
//! Sends `{operation, requestId?, metadata?, payload}` envelopes with plain NATS request-reply and
//! decodes the `{success, status, response | error}` replies.
//!
//! ```no_run
//! # async fn example() -> Result<(), natsapi_client::ClientError> {
//! let client = natsapi_client::Client::connect("nats://localhost:4222", "resonate.server").await?;
//! let reply = client
//!     .call("promises.create", serde_json::json!({"id": "p1", "timeout": 3600000}))
//!     .await?;
//! assert_eq!(reply.status, Some(201));
//! # Ok(())
//! # }
//! ```

pub mod connection;
pub mod stopping;

/// Signed RPC calls: keys, wallets, signing and verifying (the `natsapi-rpc` codec), for clients
/// of an ingest gateway's `POST /op` and `POST /query`.
pub use natsapi_rpc as rpc;

use std::time::Duration;

use async_nats::HeaderMap;
pub use connection::{ConnectionSettings, SettingsError, TlsSettings, Token};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection settings cannot be used (a file is missing or invalid, or they conflict).
    #[error("NATS connection settings: {0}")]
    Settings(#[source] SettingsError),
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {addr}: {message}")]
    Connect {
        /// The address tried, password or token hidden.
        addr: String,
        /// Why.
        message: String,
    },
    /// No natsapi server listens on the subject.
    #[error("no responders on {subject}: is natsapi running and using this subject?")]
    NoResponders {
        /// The subject.
        subject: String,
    },
    /// No reply came in time.
    #[error("request on {subject} timed out after {timeout:?}")]
    TimedOut {
        /// The subject.
        subject: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The request could not be sent.
    #[error("request on {subject} failed: {message}")]
    Request {
        /// The subject.
        subject: String,
        /// Why.
        message: String,
    },
    /// The reply was not a natsapi reply envelope.
    #[error("reply is not a valid natsapi envelope: {0}")]
    Decode(String),
}

/// The error part of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// HTTP-style code (400, 403, 404, 409, 500, ...).
    pub code: u16,
    /// What went wrong.
    pub message: String,
}

/// A decoded reply envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    /// Whether the operation succeeded.
    pub success: bool,
    /// 200, 201 or 204 on success.
    #[serde(default)]
    pub status: Option<u16>,
    /// The request's id (the caller's or a generated one).
    #[serde(default)]
    pub request_id: Option<String>,
    /// The resource, on success.
    #[serde(default)]
    pub response: Option<Value>,
    /// The error, on failure.
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    operation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    payload: &'a Value,
}

/// The request envelope for `operation` with `payload`, as bytes.
pub fn envelope(operation: &str, request_id: Option<&str>, payload: &Value) -> Vec<u8> {
    // Serializing a JSON value and strings cannot fail.
    serde_json::to_vec(&Envelope { operation, request_id, payload }).unwrap_or_default()
}

/// A connection to a natsapi server's subject.
#[derive(Debug, Clone)]
pub struct Client {
    nats: async_nats::Client,
    subject: String,
    timeout: Duration,
}

impl Client {
    /// Connects to NATS at `addr` and targets `subject`.
    pub async fn connect(addr: &str, subject: &str) -> Result<Self, ClientError> {
        Client::connect_with(addr, subject, &ConnectionSettings::default()).await
    }

    /// Connects to NATS at `addr` with the credentials and TLS options of `settings`, and
    /// targets `subject`.
    pub async fn connect_with(
        addr: &str,
        subject: &str,
        settings: &ConnectionSettings,
    ) -> Result<Self, ClientError> {
        let options = settings.connect_options(addr).map_err(ClientError::Settings)?;
        let nats = options.name("natsapi-client").connect(addr).await.map_err(|e| {
            ClientError::Connect { addr: connection::redact_addr(addr), message: e.to_string() }
        })?;
        Ok(Client::new(nats, subject))
    }

    /// Uses an existing NATS connection.
    pub fn new(nats: async_nats::Client, subject: &str) -> Self {
        Client { nats, subject: subject.to_owned(), timeout: DEFAULT_TIMEOUT }
    }

    /// Sets the per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The underlying NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// Calls `operation` with `payload`.
    pub async fn call(&self, operation: &str, payload: Value) -> Result<Reply, ClientError> {
        self.call_with(operation, None, payload, HeaderMap::new()).await.map(|(reply, _)| reply)
    }

    /// Calls `operation` with a request id and headers; returns the reply and its headers.
    pub async fn call_with(
        &self,
        operation: &str,
        request_id: Option<&str>,
        payload: Value,
        headers: HeaderMap,
    ) -> Result<(Reply, Option<HeaderMap>), ClientError> {
        let body = envelope(operation, request_id, &payload);
        let message = self.request_bytes(body.into(), headers).await?;
        let reply = serde_json::from_slice(&message.payload)
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((reply, message.headers))
    }

    /// Sends raw bytes as the request (no envelope added) and returns the raw reply message.
    pub async fn request_bytes(
        &self,
        body: bytes::Bytes,
        headers: HeaderMap,
    ) -> Result<async_nats::Message, ClientError> {
        let request =
            async_nats::Request::new().payload(body).headers(headers).timeout(Some(self.timeout));
        self.nats.send_request(self.subject.clone(), request).await.map_err(|e| {
            let subject = self.subject.clone();
            match e.kind() {
                async_nats::RequestErrorKind::NoResponders => ClientError::NoResponders { subject },
                async_nats::RequestErrorKind::TimedOut => {
                    ClientError::TimedOut { subject, timeout: self.timeout }
                }
                _ => ClientError::Request { subject, message: e.to_string() },
            }
        })
    }
}
