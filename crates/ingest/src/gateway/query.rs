//! `POST /query` (also `/clusterizer/query`): a signed read method (see
//! [`crate::rpc::queries`]), answered signed by the node's key: the MessagePack envelope
//! `[11, payload, signature, recovery_id]` when the client accepts `application/x-audius-msg`,
//! else JSON with the `x-sig` header. Every answer, refusals included, is signed, so a client can
//! tell the node's answers from anything else; an answer names the query's `id`, so that it
//! cannot be passed off as the answer to another query. A query must carry a signed `ts`.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use natsapi_rpc::{MSGPACK_CONTENT_TYPE, SIGNATURE_HEADER, SecretKey};
use serde_json::{Value, json};

use super::signed::{body_of, read_signed};
use super::{Gateway, GatewayError};
use crate::rpc::queries::{Query, RunQuery};

/// `POST /query`.
pub(super) async fn answer(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let msgpack = accepts_msgpack(&headers);
    let (status, value) = match run(&gateway, &headers, body).await {
        Ok(value) => (StatusCode::OK, value),
        Err(e) => {
            let code = u32::from(e.status.as_u16()) * 100;
            (e.status, json!({"error": {"code": code, "message": e.message}}))
        }
    };
    signed(&gateway.shared.node_key, msgpack, status, &value)
}

async fn run(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, GatewayError> {
    let shared = &gateway.shared;
    let body = body_of(body, shared.rpc.max_call_bytes)?;
    let verified = read_signed(shared, headers, body, shared.clock.now_ms())?;
    let call = &verified.call;
    // Without a timestamp, a captured query could be sent again forever and read the signer's
    // data: queries must carry one, within the freshness window.
    if call.ts.is_none() {
        return Err(GatewayError::bad_request(
            "ts: a query must carry its signed time (epoch milliseconds), within the gateway's \
             freshness window",
        ));
    }
    let query = Query::parse(&call.method, &call.params)?;
    let op = RunQuery { wallet: verified.wallet.to_string(), query };
    let result = crate::db::run(&shared.store, op)
        .await
        .map_err(|e| GatewayError::unavailable(format!("cannot run the query: {e}")))?;
    Ok(json!({"id": call.id, "result": result}))
}

/// Whether the request's `Accept` names the MessagePack content type.
fn accepts_msgpack(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| {
            part.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(MSGPACK_CONTENT_TYPE)
        })
    })
}

/// `value` with `status`, signed by `key`: as the MessagePack envelope, or as JSON with `x-sig`.
fn signed(key: &SecretKey, msgpack: bool, status: StatusCode, value: &Value) -> Response {
    let (body, content_type, signature) = if msgpack {
        let payload = natsapi_rpc::value_to_msgpack(value);
        (natsapi_rpc::sign_msgpack(key, &payload, false), MSGPACK_CONTENT_TYPE, None)
    } else {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        let signature = natsapi_rpc::sign_json(key, &body);
        (body, "application/json", Some(signature))
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(value) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
        headers.insert(SIGNATURE_HEADER, value);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry = HeaderValue::from_static(super::error::RETRY_AFTER_SECONDS);
        headers.insert(header::RETRY_AFTER, retry);
    }
    response
}
