use secp256k1::Message;
use secp256k1::ecdsa::RecoverableSignature;

use super::*;
use crate::test_support::{VECTOR_WALLET, high_s_twin, raw_sign, vector_key};

/// The envelope `[11, payload, signature, recid]` written byte by byte the way @msgpack/msgpack
/// writes it: fixarray 0x94, positive fixint 0x0b, bin8 (0xc4) or bin16 (0xc5) for each
/// Uint8Array, positive fixint for the recovery id.
fn by_hand(payload: &[u8], signature: &[u8], recid: u8) -> Vec<u8> {
    let mut out = vec![0x94, 0x0b];
    for bytes in [payload, signature] {
        match u8::try_from(bytes.len()) {
            Ok(len) => out.extend_from_slice(&[0xc4, len]),
            Err(_) => {
                out.push(0xc5);
                out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
            }
        }
        out.extend_from_slice(bytes);
    }
    out.push(recid);
    out
}

/// `{id: "1", method: "ping", params: {}}` as @msgpack/msgpack encodes it.
const PING: &[u8] = &[
    0x83, 0xa2, b'i', b'd', 0xa1, b'1', 0xa6, b'm', b'e', b't', b'h', b'o', b'd', 0xa4, b'p', b'i',
    b'n', b'g', 0xa6, b'p', b'a', b'r', b'a', b'm', b's', 0x80,
];

#[test]
fn hand_built_envelope_opens_and_matches_ours() {
    let key = vector_key();
    let (signature, recid) = raw_sign(&key, &sha256(PING));
    let compact = by_hand(PING, &signature.serialize_compact(), recid.to_u8());
    assert_eq!(&compact[..4], &[0x94, 0x0b, 0xc4, 26]);
    let opened = open_msgpack(&compact).unwrap();
    assert_eq!(opened.wallet.to_string(), VECTOR_WALLET);
    assert_eq!(opened.payload, PING);
    // RFC 6979 signatures are deterministic: our envelope is the same bytes.
    assert_eq!(sign_msgpack(&key, PING, false), compact);

    let der = by_hand(PING, &signature.serialize_der(), recid.to_u8());
    assert_eq!(open_msgpack(&der).unwrap().wallet, key.wallet());
    assert_eq!(sign_msgpack(&key, PING, true), der);
}

#[test]
fn bin16_payload_opens() {
    let key = vector_key();
    let payload = vec![0x42; 300];
    let (signature, recid) = raw_sign(&key, &sha256(&payload));
    let envelope = by_hand(&payload, &signature.serialize_der(), recid.to_u8());
    assert_eq!(&envelope[..5], &[0x94, 0x0b, 0xc5, 0x01, 0x2c]);
    let opened = open_msgpack(&envelope).unwrap();
    assert_eq!((opened.wallet, opened.payload), (key.wallet(), payload));
}

#[test]
fn round_trip_compact_and_der_with_fresh_keys() {
    for der in [false, true] {
        for n in 0..8u8 {
            let key = SecretKey::generate();
            let payload = vec![n; usize::from(n) * 40];
            let envelope = sign_msgpack(&key, &payload, der);
            let opened = open_msgpack(&envelope).unwrap();
            assert_eq!(opened.wallet, key.wallet());
            assert_eq!(opened.payload, payload);
        }
    }
}

#[test]
fn tampered_payload_never_opens_as_the_signer() {
    let key = vector_key();
    let (signature, recid) = raw_sign(&key, &sha256(PING));
    for index in 0..PING.len() {
        let mut tampered = PING.to_vec();
        tampered[index] ^= 0x01;
        for sig in [signature.serialize_compact().to_vec(), signature.serialize_der().to_vec()] {
            let envelope = by_hand(&tampered, &sig, recid.to_u8());
            if let Ok(opened) = open_msgpack(&envelope) {
                assert_ne!(opened.wallet, key.wallet(), "byte {index} tampered");
            }
        }
    }
}

#[test]
fn wrong_recovery_id_never_opens_as_the_signer() {
    let key = vector_key();
    let (signature, recid) = raw_sign(&key, &sha256(PING));
    for other in (0..=3).filter(|&id| id != recid.to_u8()) {
        let envelope = by_hand(PING, &signature.serialize_compact(), other);
        if let Ok(opened) = open_msgpack(&envelope) {
            assert_ne!(opened.wallet, key.wallet());
        }
    }
}

#[test]
fn high_s_twin_is_refused_in_both_encodings() {
    let key = vector_key();
    let prehash = sha256(PING);
    let (signature, recid) = raw_sign(&key, &prehash);
    let (twin, flipped) = high_s_twin(&signature, recid);
    // The twin is a genuine signature by the same key: only the low-s rule refuses it.
    let recovered = RecoverableSignature::from_compact(&twin.serialize_compact(), flipped)
        .unwrap()
        .recover_ecdsa(Message::from_digest(prehash))
        .unwrap();
    assert_eq!(recovered, *key.verifying_key());
    for sig in [twin.serialize_compact().to_vec(), twin.serialize_der().to_vec()] {
        let err = open_msgpack(&by_hand(PING, &sig, flipped.to_u8())).unwrap_err();
        assert!(matches!(err, SignatureError::HighS), "{err}");
        assert_eq!(
            err.to_string(),
            "the signature is high-s (s > n/2); sign with low-s (normalized) signatures"
        );
    }
}

#[test]
fn magic_other_than_11_is_named() {
    let good = sign_msgpack(&vector_key(), PING, false);
    let with_magic = |byte: u8| {
        let mut envelope = good.clone();
        envelope[1] = byte;
        open_msgpack(&envelope).unwrap_err()
    };
    for magic in [12u8, 13] {
        let err = with_magic(magic);
        assert!(matches!(err, SignatureError::Encrypted { magic: m } if m == u64::from(magic)));
        let text = err.to_string();
        assert!(text.contains(&magic.to_string()) && text.contains("not accepted"), "{text}");
    }
    let err = with_magic(7);
    assert!(matches!(err, SignatureError::WrongMagic { magic: 7 }), "{err}");
    assert!(err.to_string().contains("magic is 7"), "{err}");
    let err = with_magic(0xff); // negative fixint -1
    assert!(matches!(err, SignatureError::WrongMagic { magic: -1 }), "{err}");
    let err = with_magic(0xc0); // nil
    assert!(matches!(err, SignatureError::ElementType { index: 0, found: "nil", .. }), "{err}");
}

#[test]
fn truncated_envelopes_are_refused() {
    let envelope = sign_msgpack(&vector_key(), PING, true);
    for len in 0..envelope.len() {
        let err = open_msgpack(&envelope[..len]).unwrap_err();
        assert!(matches!(err, SignatureError::MsgPack(_)), "cut at {len}: {err}");
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut envelope = sign_msgpack(&vector_key(), PING, false);
    envelope.extend_from_slice(&[0xc0, 0xc0]);
    let err = open_msgpack(&envelope).unwrap_err();
    assert!(matches!(err, SignatureError::TrailingBytes { count: 2 }), "{err}");
}

#[test]
fn shape_and_element_types_are_checked() {
    let key = vector_key();
    let (signature, recid) = raw_sign(&key, &sha256(PING));
    let sig = signature.serialize_compact();

    let err = open_msgpack(&[0x80]).unwrap_err();
    assert!(matches!(err, SignatureError::NotAnArray { found: "a map" }), "{err}");
    let err = open_msgpack(&[0x93, 0x0b, 0xc4, 0x00, 0xc4, 0x00]).unwrap_err();
    assert!(matches!(err, SignatureError::ArrayLength { len: 3 }), "{err}");

    // The payload as a string (fixstr) instead of binary.
    let mut envelope = vec![0x94, 0x0b, 0xa2, b'h', b'i', 0xc4, 64];
    envelope.extend_from_slice(&sig);
    envelope.push(recid.to_u8());
    let err = open_msgpack(&envelope).unwrap_err();
    assert!(
        matches!(err, SignatureError::ElementType { index: 1, found: "a string", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("(payload) must be binary"), "{err}");

    // The signature as an array.
    let err = open_msgpack(&[0x94, 0x0b, 0xc4, 0x00, 0x90, 0x00]).unwrap_err();
    assert!(
        matches!(err, SignatureError::ElementType { index: 2, found: "an array", .. }),
        "{err}"
    );

    // The recovery id as a string, then out of range.
    let mut envelope = by_hand(PING, &sig, 0);
    *envelope.last_mut().unwrap() = 0xa0;
    let err = open_msgpack(&envelope).unwrap_err();
    assert!(matches!(err, SignatureError::ElementType { index: 3, .. }), "{err}");
    let err = open_msgpack(&by_hand(PING, &sig, 4)).unwrap_err();
    assert!(matches!(err, SignatureError::RecoveryId { found: 4 }), "{err}");
    let err = open_msgpack(&by_hand(PING, &sig, 27)).unwrap_err();
    assert!(matches!(err, SignatureError::RecoveryId { found: 27 }), "{err}");
}

#[test]
fn malformed_signatures_are_named() {
    let err = open_msgpack(&by_hand(PING, &[0u8; 64], 0)).unwrap_err();
    assert!(matches!(err, SignatureError::Compact(_)), "{err}");
    let err = open_msgpack(&by_hand(PING, &[0x30, 0x02, 0x01], 0)).unwrap_err();
    assert!(matches!(err, SignatureError::Der { len: 3, .. }), "{err}");
    assert!(err.to_string().contains("3-byte signature"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn signatures_are_the_bytes_k256_made() {
    // RFC 6979 nonces are the same in every implementation: these envelopes (DER signature) of
    // b"hello" and of the empty payload by the known key were made by k256 0.14, which signed
    // calls before libsecp256k1 did.
    let key = vector_key();
    let hello = concat!(
        "940bc40568656c6c6fc44730450221008403487598f317246384047b2415389d80757ac6e67fc77fa302c81d",
        "e9bd654d02200c8078ccb08f9aaa0a31017589e92ff38e8976d40fd66cbbe6e9e2706a49671d01"
    );
    assert_eq!(crate::hex::encode(&sign_msgpack(&key, b"hello", true)), hello);
    let empty = concat!(
        "940bc400c446304402200435e7191fe7cc0c2834f3a0b375e8228248a09663710ce1e501ac4c748b6de70220",
        "6d13c81d2d95d26e74b51e73e3db79e1911b25de8f87bc6b8fe1b39d52b5389d01"
    );
    assert_eq!(crate::hex::encode(&sign_msgpack(&key, b"", true)), empty);
}

#[test]
fn zero_or_out_of_range_scalars_are_malformed_in_both_encodings() {
    let order = secp256k1::constants::CURVE_ORDER;
    let mut one = [0u8; 32];
    one[31] = 1;
    // r‖s: s zero, r zero, r = n.
    for (r, s) in [(one, [0u8; 32]), ([0u8; 32], one), (order, one)] {
        let compact = [r, s].concat();
        let err = open_msgpack(&by_hand(PING, &compact, 0)).unwrap_err();
        assert!(matches!(err, SignatureError::Compact(_)), "{err}");
    }
    // DER: r zero, s zero, r = n (which libsecp256k1's parser reads as zero), s negative.
    let mut r_is_n = vec![0x30, 0x26, 0x02, 0x21, 0x00];
    r_is_n.extend_from_slice(&order);
    r_is_n.extend_from_slice(&[0x02, 0x01, 0x01]);
    for der in [
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01],
        vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00],
        r_is_n,
        vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x81],
    ] {
        let len = der.len();
        let err = open_msgpack(&by_hand(PING, &der, 0)).unwrap_err();
        assert!(matches!(err, SignatureError::Der { len: l, .. } if l == len), "{err}");
    }
}
