//! `POST /op` (also `/clusterizer/op`): one signed call, verified and checked against its
//! method, stored in JetStream as the exact signed bytes, and answered 202 only after JetStream's
//! acknowledgement. The same call sent again (also signed again, with another timestamp) is a
//! replay, answered the same with `duplicate: true`; another call under an id the wallet used is
//! a 409.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::signed::{body_of, read_signed};
use super::store::{Publication, Ready, Taker};
use super::{Gateway, GatewayError, Shared};
use crate::db::messages::Accepted;
use crate::envelope::subject;
use crate::rpc::{FORMAT_HEADER, RECEIVED_HEADER, SIGNATURE_HEADER, Verified};

/// `POST /op`.
pub(super) async fn accept(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match store_call(&gateway, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn store_call(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GatewayError> {
    let shared = &gateway.shared;
    let body = body_of(body, shared.rpc.max_call_bytes)?;
    let received_at = shared.clock.now_ms();
    let verified = read_signed(shared, headers, body, received_at)?;
    let call = &verified.call;
    shared.rpc.methods.check(&call.method, &call.params)?;
    if !shared.connected() {
        return Err(GatewayError::unavailable("NATS is not connected; the call was not stored"));
    }
    let ready = ready(shared, &verified, received_at);
    let stored = gateway.singles.store(ready).await?;
    let body = json!({
        "id": call.id,
        "wallet": verified.wallet.to_string(),
        "method": call.method,
        "status": "accepted",
        "duplicate": stored.duplicate,
        "stream_sequence": stored.sequence,
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The publication and status row of a verified call.
fn ready(shared: &Shared, verified: &Verified, received_at: i64) -> Ready {
    let message_id = verified.message_id();
    let fingerprint = verified.fingerprint();
    let subject = subject(&shared.rpc.streams.subject_prefix, &verified.call.method);
    let mut publication =
        Publication::new(subject, verified.raw.clone(), message_id, Some(&fingerprint));
    let headers = &mut publication.headers;
    headers.insert(FORMAT_HEADER, verified.format.as_str());
    headers.insert(RECEIVED_HEADER, received_at.to_string().as_str());
    if let Some(signature) = &verified.signature {
        headers.insert(SIGNATURE_HEADER, signature.as_str());
    }
    let row = Accepted {
        message_id,
        entity_type: verified.call.method.clone(),
        source: Some(verified.wallet.to_string()),
        received_at,
        fingerprint: Some(fingerprint),
    };
    Ready { publication, row, taken_by: Taker::Call { id: verified.call.id.clone() } }
}
