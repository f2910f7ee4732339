//! The signature work shared by both formats, on libsecp256k1: parse r‖s or DER, refuse high-s,
//! recover the signer's key, name the wallet; and sign.
//!
//! No verification follows the recovery: the key recovered from (hash, r, s, recovery id) is
//! Q = r⁻¹(sR − eG), and verifying with it computes (e/s)G + (r/s)Q = R, whose x is r, so it
//! always passes (r and s are non-zero, which parsing the signature checks, and Q is never the
//! identity, which libsecp256k1's recovery checks). It would double the cost of every call for
//! nothing.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, SecretKey};

use crate::error::SignatureError;
use crate::wallet::Wallet;

/// A 64-byte r‖s signature, r and s each between 1 and n − 1.
pub(crate) fn parse_compact(bytes: &[u8]) -> Result<Signature, secp256k1::Error> {
    non_zero(Signature::from_compact(bytes)?)
}

/// A strict ASN.1 DER signature, r and s each between 1 and n − 1.
pub(crate) fn parse_der(bytes: &[u8]) -> Result<Signature, secp256k1::Error> {
    non_zero(Signature::from_der(bytes)?)
}

/// Refuses r = 0 or s = 0. libsecp256k1's parsers refuse r or s not below n in r‖s form but read
/// them as zero in DER form, and accept zero itself; such a signature recovers no key, but it is
/// malformed, and reported as such.
fn non_zero(signature: Signature) -> Result<Signature, secp256k1::Error> {
    let compact = signature.serialize_compact();
    let (r, s) = compact.split_at(32);
    if r.iter().all(|&byte| byte == 0) || s.iter().all(|&byte| byte == 0) {
        return Err(secp256k1::Error::InvalidSignature);
    }
    Ok(signature)
}

/// The recovery id with this number (0 to 3), if any.
pub(crate) fn recovery_id(id: u8) -> Option<RecoveryId> {
    RecoveryId::try_from(i32::from(id)).ok()
}

/// The wallet that signed `prehash` with `signature` and `recovery_id`, after refusing a high-s
/// signature.
pub(crate) fn signer(
    prehash: &[u8; 32],
    signature: &Signature,
    recovery_id: RecoveryId,
) -> Result<Wallet, SignatureError> {
    let compact = signature.serialize_compact();
    let mut normalized = *signature;
    normalized.normalize_s();
    if normalized.serialize_compact() != compact {
        return Err(SignatureError::HighS);
    }
    let key = RecoverableSignature::from_compact(&compact, recovery_id)
        .and_then(|recoverable| recoverable.recover_ecdsa(Message::from_digest(*prehash)))
        .map_err(SignatureError::Recovery)?;
    Ok(Wallet::from_public_key(&key))
}

/// A signature of `prehash` by `key`: low-s (libsecp256k1 always signs so, and adjusts the
/// recovery id), deterministic (RFC 6979, no extra data).
pub(crate) fn sign(key: &SecretKey, prehash: &[u8; 32]) -> (Signature, RecoveryId) {
    let recoverable =
        RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(*prehash), key);
    let (recovery_id, _) = recoverable.serialize_compact();
    (recoverable.to_standard(), recovery_id)
}
