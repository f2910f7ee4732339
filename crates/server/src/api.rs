//! The transport-independent API: runs operations on the store and tells the timers about new
//! deadlines. NATS and HTTP both call into this.

use std::sync::Arc;

use natsapi_core::{Code, DomainError, Operation, Success};
use natsapi_store::{Store, StoreError};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::time::Time;
use crate::timer::Deadlines;

/// A successful answer: the HTTP-style status and the resource as JSON.
#[derive(Debug, Clone)]
pub struct Response {
    /// 200, 201 or 204.
    pub status: u16,
    /// The resource in Resonate's JSON shape (`null` for 204).
    pub body: Box<RawValue>,
}

/// A refused or failed request: the five-digit code and a message naming the case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The five-digit code; the HTTP-style status is `code.status()`.
    pub code: Code,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// A 400 with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { code: Code::BadRequest, message: message.into() }
    }

    /// The HTTP-style status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError { code: e.code, message: e.message }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::Closed => Code::Unavailable,
            _ => Code::StoreError,
        };
        tracing::error!(error = %e, "store failure");
        ApiError { code, message: e.to_string() }
    }
}

/// Serializes a resource into a response with the given status.
pub fn respond<T: Serialize>(status: u16, value: &T) -> Result<Response, ApiError> {
    let body = serde_json::value::to_raw_value(value)
        .map_err(|e| ApiError { code: Code::StoreError, message: format!("encode: {e}") })?;
    Ok(Response { status, body })
}

struct Inner {
    store: Store,
    time: Time,
    deadlines: Arc<Deadlines>,
}

/// Shared state of every transport: the store, the time source and the timers' wake-ups.
#[derive(Clone)]
pub struct Api(Arc<Inner>);

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("store", &self.0.store).finish()
    }
}

impl Api {
    /// An API over `store`, reading time from `time`.
    pub fn new(store: Store, time: Time) -> Self {
        Api(Arc::new(Inner { store, time, deadlines: Arc::new(Deadlines::default()) }))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The time source.
    pub fn time(&self) -> &Time {
        &self.0.time
    }

    /// The deadline tracker the promise timer sleeps on.
    pub fn deadlines(&self) -> &Arc<Deadlines> {
        &self.0.deadlines
    }

    /// Runs a domain operation and returns its success or its refusal.
    pub async fn run<O: Operation>(&self, op: O) -> Result<Success<O::Output>, ApiError> {
        Ok(self.0.store.run(op).await??)
    }
}
