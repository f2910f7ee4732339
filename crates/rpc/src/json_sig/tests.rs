use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use secp256k1::ecdsa::Signature;

use super::*;
use crate::test_support::{VECTOR_WALLET, high_s_twin, raw_sign, vector_key};

const BODY: &[u8] = br#"{"id":"7","method":"sum","params":[1,2]}"#;

/// The 65 header bytes r‖s‖v.
fn header_bytes(signature: &Signature, v: u8) -> [u8; 65] {
    let mut bytes = [0u8; 65];
    bytes[..64].copy_from_slice(&signature.serialize_compact());
    bytes[64] = v;
    bytes
}

#[test]
fn round_trip_with_the_known_key() {
    let key = vector_key();
    let header = sign_json(&key, BODY);
    assert_eq!(header.len(), 88);
    assert!(header.ends_with('='));
    let opened = open_json(BODY, &header).unwrap();
    assert_eq!(opened.wallet.to_string(), VECTOR_WALLET);
    assert_eq!(opened.payload, BODY);
    // The header is r‖s‖v over Keccak-256 of the body.
    let (signature, recid) = raw_sign(&key, &keccak256(BODY));
    assert_eq!(header, STANDARD.encode(header_bytes(&signature, recid.to_u8())));
}

#[test]
fn round_trip_with_fresh_keys_and_unpadded_headers() {
    for n in 0..8 {
        let key = SecretKey::generate();
        let body = format!(r#"{{"id":"{n}","method":"m"}}"#);
        let header = sign_json(&key, body.as_bytes());
        let unpadded = format!(" {} ", header.trim_end_matches('='));
        assert_eq!(open_json(body.as_bytes(), &unpadded).unwrap().wallet, key.wallet());
    }
}

#[test]
fn v_27_and_28_read_as_0_and_1() {
    let key = vector_key();
    let (signature, recid) = raw_sign(&key, &keccak256(BODY));
    let header = STANDARD.encode(header_bytes(&signature, recid.to_u8() + 27));
    assert_eq!(open_json(BODY, &header).unwrap().wallet, key.wallet());
    let err = open_json(BODY, &STANDARD.encode(header_bytes(&signature, 29))).unwrap_err();
    assert!(matches!(err, SignatureError::HeaderRecoveryId { found: 29 }), "{err}");
    let err = open_json(BODY, &STANDARD.encode(header_bytes(&signature, 4))).unwrap_err();
    assert!(matches!(err, SignatureError::HeaderRecoveryId { found: 4 }), "{err}");
}

#[test]
fn tampered_body_never_opens_as_the_signer() {
    let key = vector_key();
    let header = sign_json(&key, BODY);
    for index in 0..BODY.len() {
        let mut tampered = BODY.to_vec();
        tampered[index] ^= 0x20;
        if let Ok(opened) = open_json(&tampered, &header) {
            assert_ne!(opened.wallet, key.wallet(), "byte {index} tampered");
        }
    }
    // Whitespace is part of the signed bytes.
    let spaced = br#"{"id":"7", "method":"sum","params":[1,2]}"#;
    if let Ok(opened) = open_json(spaced, &header) {
        assert_ne!(opened.wallet, key.wallet());
    }
}

#[test]
fn high_s_twin_is_refused() {
    let key = vector_key();
    let (signature, recid) = raw_sign(&key, &keccak256(BODY));
    let (twin, flipped) = high_s_twin(&signature, recid);
    let header = STANDARD.encode(header_bytes(&twin, flipped.to_u8()));
    let err = open_json(BODY, &header).unwrap_err();
    assert!(matches!(err, SignatureError::HighS), "{err}");
}

#[test]
fn bad_base64_and_wrong_length_are_named() {
    let err = open_json(BODY, "not base64!").unwrap_err();
    assert!(matches!(err, SignatureError::HeaderBase64(_)), "{err}");
    assert!(err.to_string().starts_with("the x-sig header is not standard base64"), "{err}");
    // URL-safe base64 is not standard base64.
    let header = sign_json(&vector_key(), BODY).replace('+', "-").replace('/', "_");
    if header.contains(['-', '_']) {
        let err = open_json(BODY, &header).unwrap_err();
        assert!(matches!(err, SignatureError::HeaderBase64(_)), "{err}");
    }
    let err = open_json(BODY, &STANDARD.encode([0u8; 64])).unwrap_err();
    assert!(matches!(err, SignatureError::HeaderLength { len: 64 }), "{err}");
    assert!(err.to_string().contains("decodes to 64"), "{err}");
    let err = open_json(BODY, &STANDARD_NO_PAD.encode([1u8; 66])).unwrap_err();
    assert!(matches!(err, SignatureError::HeaderLength { len: 66 }), "{err}");
    let err = open_json(BODY, "").unwrap_err();
    assert!(matches!(err, SignatureError::HeaderLength { len: 0 }), "{err}");
}

#[test]
fn zero_signature_is_refused() {
    let err = open_json(BODY, &STANDARD.encode([0u8; 65])).unwrap_err();
    assert!(matches!(err, SignatureError::HeaderSignature(_)), "{err}");
}

#[test]
fn header_is_the_bytes_k256_made() {
    // RFC 6979 nonces are the same in every implementation: this header for the known key was
    // made by k256 0.14, which signed calls before libsecp256k1 did.
    let body = br#"{"id":"1","method":"ping","params":{}}"#;
    let header =
        "sqyfOtxMwddDWSBaRYlrHalff48m1sPssxCnCctPdDAdf9r4UJvfdhFFPY/tiAxnuY+WR90HQwDL2/XmDPY/1gA=";
    assert_eq!(sign_json(&vector_key(), body), header);
    assert_eq!(open_json(body, header).unwrap().wallet.to_string(), VECTOR_WALLET);
}

#[test]
fn out_of_range_s_is_refused() {
    let (signature, _) = raw_sign(&vector_key(), &keccak256(BODY));
    let mut bytes = header_bytes(&signature, 0);
    bytes[32..64].copy_from_slice(&secp256k1::constants::CURVE_ORDER);
    let err = open_json(BODY, &STANDARD.encode(bytes)).unwrap_err();
    assert!(matches!(err, SignatureError::HeaderSignature(_)), "{err}");
}
