//! The transport-independent API state: the store, the time source, the timers' wake-ups and the
//! reply size limit. NATS and HTTP both run operations through it.
//!
//! No write without its answer: a reply travels in one NATS message, so every operation a client
//! asks for runs within a reply budget (the NATS server's max payload less the envelope's room,
//! for NATS and HTTP alike, so that what one transport stores the other can return). A write whose
//! answer would not fit is undone in its own transaction and answered 400 naming the size and
//! the limit, and creates and completes keep each promise within half a claim's room, so the
//! claim of any task, which carries its root and leaf promises, fits too (see
//! `natsapi_core::reply`).

use std::sync::Arc;

use natsapi_core::{Answer, Budgeted, Code, DomainError, Operation, ReplyBudget, Success};
use natsapi_store::{Store, StoreError};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::delivery::Targets;
use crate::time::Time;
use crate::timer::{Deadlines, Timer};

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
        // Try again later (closed, overloaded, conflicting): not a failure of the store, and
        // under overload one log line per refused request would flood the log.
        let code = if e.is_unavailable() {
            tracing::debug!(error = %e, "store unavailable");
            Code::Unavailable
        } else {
            tracing::error!(error = %e, "store failure");
            Code::StoreError
        };
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
    targets: Targets,
    deadlines: Vec<Arc<Deadlines>>,
    max_reply_bytes: usize,
}

/// Room in a reply for everything but the resource: the envelope, the request id (at most 256
/// bytes, 512 escaped), the status and the trace headers (`traceparent`, `tracestate` of at most
/// 512 bytes).
pub const REPLY_OVERHEAD: usize = 2048;

/// Shared state of every transport: the store, the time source and the timers' wake-ups.
#[derive(Clone)]
pub struct Api(Arc<Inner>);

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("store", &self.0.store).finish()
    }
}

impl Api {
    /// An API over `store`, reading time from `time`, with no limit on reply size.
    pub fn new(store: Store, time: Time) -> Self {
        Api::with_reply_limit(store, time, usize::MAX)
    }

    /// An API whose replies must fit in `max_reply_bytes` (a NATS server's max payload): a
    /// search page ends early to fit, and a write whose answer would not fit, or that would store
    /// a promise too large for a task claim, is refused with nothing written.
    pub fn with_reply_limit(store: Store, time: Time, max_reply_bytes: usize) -> Self {
        Api::build(store, time, max_reply_bytes, Targets::new())
    }

    /// An API whose replies must fit in `max_reply_bytes` and whose task receivers may name the
    /// logical `targets` of the configuration.
    pub fn build(store: Store, time: Time, max_reply_bytes: usize, targets: Targets) -> Self {
        let deadlines = Timer::ALL.iter().map(|_| Arc::new(Deadlines::default())).collect();
        Api(Arc::new(Inner { store, time, targets, deadlines, max_reply_bytes }))
    }

    /// Checks a task receiver (JSON text) a request names: a 400 naming the problem when it
    /// cannot be delivered to.
    pub fn check_recv(&self, field: &str, recv_json: &str) -> Result<(), ApiError> {
        crate::delivery::recv::validate(recv_json, &self.0.targets)
            .map(drop)
            .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
    }

    /// Most bytes of resource JSON a reply can carry.
    pub fn max_resource_bytes(&self) -> usize {
        self.0.max_reply_bytes.saturating_sub(REPLY_OVERHEAD)
    }

    /// The room a reply has for its resource.
    pub fn reply_budget(&self) -> ReplyBudget {
        match self.0.max_reply_bytes {
            usize::MAX => ReplyBudget::UNLIMITED,
            _ => ReplyBudget::new(self.max_resource_bytes()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The time source.
    pub fn time(&self) -> &Time {
        &self.0.time
    }

    /// The deadlines `timer` sleeps on.
    pub fn deadlines(&self, timer: Timer) -> &Arc<Deadlines> {
        &self.0.deadlines[timer as usize]
    }

    /// Tells `timer` about a deadline (epoch ms) a write just created.
    pub fn announce(&self, timer: Timer, deadline_ms: i64) {
        self.deadlines(timer).announce(deadline_ms);
    }

    /// Runs a domain operation and returns its success or its refusal.
    pub async fn run<O: Operation>(&self, op: O) -> Result<Success<O::Output>, ApiError> {
        Ok(self.0.store.run(op).await??)
    }

    /// Runs an operation a client asked for, within the reply budget: a success whose reply
    /// would not fit is refused (400) and nothing it wrote stays.
    pub async fn answer<O: Answer>(&self, op: O) -> Result<Success<O::Output>, ApiError> {
        self.run(Budgeted { op, budget: self.reply_budget() }).await
    }
}
