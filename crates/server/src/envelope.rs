//! The NATS envelope: `{operation, requestId?, metadata?, payload}` in, and
//! `{success, status, requestId, response}` or `{success, requestId, error{code, message}}` out.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::{ApiError, Response};

/// A decoded request envelope, borrowing from the message bytes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestEnvelope<'a> {
    /// `<resource>.<action>`, e.g. `promises.create`.
    pub operation: String,
    /// The caller's id for this request; generated when absent.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Protocol metadata such as trace headers.
    #[serde(default)]
    pub metadata: Option<HashMap<String, String>>,
    /// The operation's input.
    #[serde(borrow, default)]
    pub payload: Option<&'a RawValue>,
}

/// Longest accepted `requestId`, in bytes (it is echoed in the reply).
pub const MAX_REQUEST_ID_BYTES: usize = 256;

/// Decodes an envelope; every failure is a 400 that names the problem.
pub fn decode(bytes: &[u8]) -> Result<RequestEnvelope<'_>, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::bad_request(format!("request is not valid UTF-8 (at byte {})", e.valid_up_to()))
    })?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "request is empty; expected a JSON envelope {\"operation\", \"payload\"}",
        ));
    }
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::bad_request(
            "invalid request envelope: expected a JSON object {\"operation\", \"payload\"}",
        ));
    }
    let envelope: RequestEnvelope<'_> = crate::json::parse(text, "invalid request envelope", ": ")?;
    if let Some(id) = &envelope.request_id {
        if id.len() > MAX_REQUEST_ID_BYTES {
            return Err(ApiError::bad_request(format!(
                "requestId is {} bytes; at most {MAX_REQUEST_ID_BYTES}",
                id.len()
            )));
        }
        if id.chars().any(char::is_control) {
            return Err(ApiError::bad_request("requestId must not contain control characters"));
        }
    }
    Ok(envelope)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SuccessReply<'a> {
    success: bool,
    status: u16,
    request_id: &'a str,
    response: &'a RawValue,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u16,
    message: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorReply<'a> {
    success: bool,
    request_id: &'a str,
    error: ErrorBody<'a>,
}

/// The reply to a successful request.
pub fn success(request_id: &str, response: &Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(response.body.get().len() + request_id.len() + 64);
    let reply = SuccessReply {
        success: true,
        status: response.status,
        request_id,
        response: &response.body,
    };
    // Writing plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &reply);
    out
}

/// The reply to a refused or failed request.
pub fn failure(request_id: &str, error: &ApiError) -> Vec<u8> {
    serde_json::to_vec(&ErrorReply {
        success: false,
        request_id,
        error: ErrorBody { code: error.status(), message: &error.message },
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use natsapi_core::Code;

    #[test]
    fn decodes_the_seed_envelope() {
        let env = decode(
            br#"{"operation":"promises.read","requestId":"r1","metadata":{"a":"b"},"payload":{"id":"x"}}"#,
        )
        .unwrap();
        assert_eq!(env.operation, "promises.read");
        assert_eq!(env.request_id.as_deref(), Some("r1"));
        assert_eq!(env.payload.unwrap().get(), r#"{"id":"x"}"#);
    }

    #[test]
    fn bad_envelopes_name_the_problem() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"\xff\xfe", "UTF-8"),
            (b"{not json", "invalid request envelope"),
            (br#"{"payload":{}}"#, "operation"),
            (br#"{"operation":5,"payload":{}}"#, "operation"),
            (br#"{"operation":"x","metadata":{"a":1}}"#, "metadata.a"),
        ];
        for (bytes, needle) in cases {
            let err = decode(bytes).unwrap_err();
            assert_eq!(err.code, Code::BadRequest);
            assert!(err.message.contains(needle), "{:?}: {}", bytes, err.message);
        }
    }

    #[test]
    fn replies_have_the_documented_shape() {
        let body = RawValue::from_string(r#"{"id":"x"}"#.into()).unwrap();
        let ok = success("r1", &Response { status: 201, body });
        assert_eq!(
            String::from_utf8(ok).unwrap(),
            r#"{"success":true,"status":201,"requestId":"r1","response":{"id":"x"}}"#
        );
        let err = failure("r2", &ApiError { code: Code::PromiseNotFound, message: "nope".into() });
        assert_eq!(
            String::from_utf8(err).unwrap(),
            r#"{"success":false,"requestId":"r2","error":{"code":404,"message":"nope"}}"#
        );
    }
}
