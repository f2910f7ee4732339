//! Signed JSON bodies: the `x-sig` header is standard base64 of r‖s‖v (65 bytes), a secp256k1
//! signature of the Keccak-256 of the exact body bytes.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};

use crate::envelope::Opened;
use crate::error::SignatureError;
use crate::hash::keccak256;
use crate::key::SecretKey;
use crate::recover;

/// The HTTP header that carries a JSON body's signature.
pub const SIGNATURE_HEADER: &str = "x-sig";

/// The `x-sig` value for `body`: standard base64 (padded) of r‖s‖v over Keccak-256 of the body,
/// low-s, v the recovery id (0 or 1, rarely 2 or 3).
pub fn sign_json(key: &SecretKey, body: &[u8]) -> String {
    let (signature, recovery_id) = recover::sign(key.secret(), &keccak256(body));
    let mut bytes = [0u8; 65];
    bytes[..64].copy_from_slice(&signature.serialize_compact());
    bytes[64] = recovery_id.to_u8();
    STANDARD.encode(bytes)
}

/// Checks the `x-sig` signature of `body` and returns the signer's wallet and the body.
///
/// The header is standard base64, padded or not, surrounding whitespace ignored; v may be
/// 0 to 3, or 27 / 28 (Ethereum's 27 + recovery id).
pub fn open_json(body: &[u8], x_sig: &str) -> Result<Opened, SignatureError> {
    let bytes =
        STANDARD_PAD_INDIFFERENT.decode(x_sig.trim()).map_err(SignatureError::HeaderBase64)?;
    let bytes: [u8; 65] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SignatureError::HeaderLength { len: bytes.len() })?;
    let v = bytes[64];
    let recovery_id = match v {
        27 | 28 => recover::recovery_id(v - 27),
        _ => recover::recovery_id(v),
    }
    .ok_or(SignatureError::HeaderRecoveryId { found: v })?;
    let signature =
        recover::parse_compact(&bytes[..64]).map_err(SignatureError::HeaderSignature)?;
    let wallet = recover::signer(&keccak256(body), &signature, recovery_id)?;
    Ok(Opened { wallet, payload: body.to_vec() })
}

#[cfg(test)]
mod tests;
