//! The signature check shared by both formats: refuse high-s, recover the signer's key, verify,
//! name the wallet.

use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use crate::error::SignatureError;
use crate::wallet::Wallet;

/// The wallet that signed `prehash` with `signature` and `recovery_id` (already checked to be
/// 0 to 3), after refusing a high-s signature and verifying against the recovered key.
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
    key.verify_prehash(prehash, signature).map_err(SignatureError::Verify)?;
    Ok(Wallet::from_public_key(&key))
}

/// A signature of `prehash` by `key`: low-s (k256 normalizes s for secp256k1 and adjusts the
/// recovery id), deterministic (RFC 6979).
pub(crate) fn sign(key: &k256::ecdsa::SigningKey, prehash: &[u8; 32]) -> (Signature, RecoveryId) {
    key.sign_prehash_recoverable(prehash)
}
