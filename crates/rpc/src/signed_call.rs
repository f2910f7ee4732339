//! For clients: a call signed in either format, ready to send; for servers: either format
//! opened by one function.

use crate::call::Call;
use crate::envelope::{Opened, open_msgpack, sign_msgpack};
use crate::error::SignatureError;
use crate::format::Format;
use crate::json_sig::{open_json, sign_json};
use crate::key::SecretKey;

/// A signed call: what to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCall {
    /// The request body: the MessagePack envelope, or the JSON call.
    pub body: Vec<u8>,
    /// Its content type.
    pub content_type: &'static str,
    /// The `x-sig` header's value (JSON only).
    pub signature_header: Option<String>,
}

/// Encodes and signs `call`: in MessagePack, the envelope around the call's map (the signature
/// DER if `der`, else 64 bytes r‖s); in JSON, the call's JSON and its `x-sig` header (`der` is
/// not used).
pub fn sign_call(key: &SecretKey, call: &Call, format: Format, der: bool) -> SignedCall {
    match format {
        Format::MsgPack => SignedCall {
            body: sign_msgpack(key, &call.to_msgpack(), der),
            content_type: format.content_type(),
            signature_header: None,
        },
        Format::Json => {
            let body = call.to_json();
            let header = sign_json(key, &body);
            SignedCall { body, content_type: format.content_type(), signature_header: Some(header) }
        }
    }
}

/// Checks a signed request in `format`: a MessagePack envelope (`x_sig` not used), or a JSON
/// body with its `x-sig` header (missing: [`SignatureError::MissingHeader`]).
pub fn open(format: Format, body: &[u8], x_sig: Option<&str>) -> Result<Opened, SignatureError> {
    match format {
        Format::MsgPack => open_msgpack(body),
        Format::Json => open_json(body, x_sig.ok_or(SignatureError::MissingHeader)?),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::format::{JSON_CONTENT_TYPE, MSGPACK_CONTENT_TYPE};
    use crate::test_support::vector_key;

    #[test]
    fn signed_calls_open_and_decode_in_both_formats() {
        let key = vector_key();
        let mut call = Call::new("c-1", "echo", json!({"say": "hi"}));
        call.ts = Some(1_700_000_000_000);
        for (format, der) in
            [(Format::MsgPack, false), (Format::MsgPack, true), (Format::Json, false)]
        {
            let signed = sign_call(&key, &call, format, der);
            assert_eq!(signed.content_type, format.content_type());
            assert_eq!(signed.signature_header.is_some(), format == Format::Json);
            let opened = open(format, &signed.body, signed.signature_header.as_deref()).unwrap();
            assert_eq!(opened.wallet, key.wallet());
            assert_eq!(Call::decode(format, &opened.payload).unwrap(), call);
        }
        assert_eq!(Format::MsgPack.content_type(), MSGPACK_CONTENT_TYPE);
        assert_eq!(Format::Json.content_type(), JSON_CONTENT_TYPE);
    }

    #[test]
    fn json_without_header_is_refused() {
        let signed =
            sign_call(&vector_key(), &Call::new("1", "m", json!(null)), Format::Json, false);
        let err = open(Format::Json, &signed.body, None).unwrap_err();
        assert!(matches!(err, SignatureError::MissingHeader), "{err}");
    }
}
