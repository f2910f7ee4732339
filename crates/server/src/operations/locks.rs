//! `locks.*` operations: payloads as Resonate 0.7 reads them (`ttl`), also accepting the seed's
//! older name for it (`expiryInMilliseconds`).

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::locks::{AcquireLock, HeartbeatLocks, ReleaseLock};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{decode, run_and_respond};
use crate::api::{Api, ApiError, Response, respond};
use crate::timer::Timer;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcquirePayload {
    resource_id: String,
    execution_id: String,
    process_id: String,
    #[serde(default, alias = "expiryInMilliseconds")]
    ttl: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleasePayload {
    resource_id: String,
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
        let done = api.run(op).await?;
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
