//! `locks.*` operations: payloads as Resonate 0.7 reads them (`ttl`), also accepting the NATS API's
//! older name for it (`expiryInMilliseconds`).

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::locks::{AcquireLock, HeartbeatLocks, ReleaseLock};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{decode, run_and_respond};
use crate::api::{Api, ApiError, Response, respond};
use crate::timer::Timer;

/// The payload of `locks.acquire` and body of `POST /locks/acquire`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AcquireLockRequest)]
pub(crate) struct AcquirePayload {
    /// What to lock.
    resource_id: String,
    /// Who holds it; acquiring again with the same execution id is re-entrant.
    execution_id: String,
    /// The process the holder runs in; heartbeats go by process.
    process_id: String,
    /// How long the lock lasts without a heartbeat, ms (required; the older name
    /// `expiryInMilliseconds` is accepted too).
    #[serde(default, alias = "expiryInMilliseconds")]
    #[schema(required = true)]
    ttl: Option<i64>,
}

/// The payload of `locks.release` and body of `POST /locks/release`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ReleaseLockRequest)]
pub(crate) struct ReleasePayload {
    /// The locked resource.
    resource_id: String,
    /// The execution that holds it.
    execution_id: String,
}

/// `locks.acquire {resourceId, executionId, processId, ttl | expiryInMilliseconds}`.
pub fn acquire<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: AcquirePayload = decode(payload)?;
        let Some(ttl) = p.ttl else {
            return Err(ApiError::bad_request(
                "payload.ttl: missing field (send `ttl` or `expiryInMilliseconds`)",
            ));
        };
        let op = AcquireLock {
            resource_id: p.resource_id,
            execution_id: p.execution_id,
            process_id: p.process_id,
            ttl,
        };
        let done = api.answer(op).await?;
        api.announce(Timer::LockExpiry, done.value.expires_at);
        respond(done.code.status(), &done.value)
    }
    .boxed()
}

/// `locks.release {resourceId, executionId}`: 204 with no body.
pub fn release<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: ReleasePayload = decode(payload)?;
        run_and_respond(
            api,
            ReleaseLock { resource_id: p.resource_id, execution_id: p.execution_id },
        )
        .await
    }
    .boxed()
}

/// `locks.heartbeat {processId}`: `{locksAffected}`. A heartbeat only moves expiries later, so
/// the expiry timer needs no wake-up.
pub fn heartbeat<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: super::HeartbeatPayload = decode(payload)?;
        run_and_respond(api, HeartbeatLocks { process_id: p.process_id }).await
    }
    .boxed()
}
