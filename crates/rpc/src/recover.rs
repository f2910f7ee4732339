//! The signature check shared by both formats: refuse high-s, recover the signer's key, name the
//! wallet.
//!
//! No verification follows the recovery: the key recovered from (hash, r, s, recovery id) is
//! Q = r⁻¹(sR − eG), and verifying with it computes (e/s)G + (r/s)Q = R, whose x is r, so it
//! always passes (r and s are non-zero, which parsing the signature checks, and Q is never the
//! identity, which building the key checks). It would double the cost of every call for nothing.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use crate::error::SignatureError;
use crate::wallet::Wallet;

/// The wallet that signed `prehash` with `signature` and `recovery_id` (already checked to be
/// 0 to 3), after refusing a high-s signature.
pub(crate) fn signer(
    prehash: &[u8; 32],
    signature: &Signature,
    recovery_id: RecoveryId,
) -> Result<Wallet, SignatureError> {
    if signature.normalize_s() != *signature {
        return Err(SignatureError::HighS);
    }
    let key = VerifyingKey::recover_from_prehash(prehash, signature, recovery_id)
        .map_err(SignatureError::Recovery)?;
    Ok(Wallet::from_public_key(&key))
}

/// A signature of `prehash` by `key`: low-s (k256 normalizes s for secp256k1 and adjusts the
/// recovery id), deterministic (RFC 6979).
pub(crate) fn sign(key: &k256::ecdsa::SigningKey, prehash: &[u8; 32]) -> (Signature, RecoveryId) {
    key.sign_prehash_recoverable(prehash)
}
