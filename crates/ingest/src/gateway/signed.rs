//! Reading a signed request (`POST /op`, `POST /query`): the content type says the format, the
//! signature is verified and the signer's wallet recovered, the call decoded, and its timestamp
//! checked against the freshness window. Every refusal names its problem.
//!
//! Recovery yields a wallet for almost any signature over almost any bytes: an altered call does
//! not fail to verify, it verifies as another wallet's (one nobody holds the key of, which owns
//! nothing). A client that sends its wallet in the `x-wallet` header has such a call refused
//! (401) instead.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use natsapi_rpc::{Format, MSGPACK_CONTENT_TYPE, SIGNATURE_HEADER, Wallet};

use super::{GatewayError, Shared};
use crate::rpc::call::OpenError;
use crate::rpc::methods::CheckError;
use crate::rpc::{Verified, WALLET_HEADER};

/// The format of a request with `headers`: `application/x-audius-msg` or `application/json`
/// (parameters such as `; charset=utf-8` allowed); anything else is a 415.
pub(super) fn format_of(headers: &HeaderMap) -> Result<Format, GatewayError> {
    let unsupported = |found: &str| GatewayError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        message: format!(
            "content-type {found}: send {MSGPACK_CONTENT_TYPE} (the signed MessagePack envelope) \
             or application/json with the header {SIGNATURE_HEADER}"
        ),
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("(none)"));
    };
    let text = value.to_str().map_err(|_| unsupported("(not visible ASCII)"))?;
    let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        MSGPACK_CONTENT_TYPE => Ok(Format::MsgPack),
        "application/json" => Ok(Format::Json),
        _ => Err(unsupported(&format!("{text:?}"))),
    }
}

/// The body, or the refusal of one that could not be read (413 over `limit` bytes).
pub(super) fn body_of(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GatewayError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("body: larger than the limit of {limit} bytes"),
            }
        } else {
            GatewayError { status: e.status(), message: format!("body: {e}") }
        }
    })
}

/// Verifies and decodes a signed request, and checks its timestamp at `now`.
pub(super) fn read_signed(
    shared: &Shared,
    headers: &HeaderMap,
    body: Bytes,
    now: i64,
) -> Result<Verified, GatewayError> {
    let format = format_of(headers)?;
    if body.is_empty() {
        return Err(GatewayError::bad_request("body: empty (expected a signed call)"));
    }
    let signature = match headers.get(SIGNATURE_HEADER) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            GatewayError::bad_request(format!("header {SIGNATURE_HEADER}: not visible ASCII"))
        })?),
    };
    let verified = Verified::open(format, body, signature).map_err(|e| match e {
        OpenError::Signature(_) => {
            GatewayError { status: StatusCode::UNAUTHORIZED, message: e.to_string() }
        }
        OpenError::Call(_) => GatewayError::bad_request(e.to_string()),
    })?;
    if let Some(claimed) = headers.get(WALLET_HEADER) {
        let claimed =
            claimed.to_str().ok().and_then(|text| text.parse::<Wallet>().ok()).ok_or_else(
                || {
                    GatewayError::bad_request(format!(
                        "header {WALLET_HEADER}: not 0x and 40 hex digits"
                    ))
                },
            )?;
        if claimed != verified.wallet {
            return Err(GatewayError {
                status: StatusCode::UNAUTHORIZED,
                message: format!(
                    "signature: the call is signed by {}, not by {claimed} ({WALLET_HEADER}): \
                     the payload or the signature was altered, or signed with another key",
                    verified.wallet
                ),
            });
        }
    }
    shared.rpc.freshness.check(verified.call.ts, now).map_err(GatewayError::bad_request)?;
    Ok(verified)
}

impl From<CheckError> for GatewayError {
    /// An unknown method is a 400, params that do not fit it a 422.
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::UnknownMethod { .. } => GatewayError::bad_request(e.to_string()),
            CheckError::BadParams { .. } => {
                GatewayError { status: StatusCode::UNPROCESSABLE_ENTITY, message: e.to_string() }
            }
        }
    }
}
