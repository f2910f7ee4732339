//! Helpers of the unit tests: known keys and hand-made signatures.

use k256::ecdsa::{RecoveryId, Signature};

use crate::key::SecretKey;

/// The private key of the known wallet vector.
pub(crate) const VECTOR_KEY: &str =
    "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
/// Its wallet.
pub(crate) const VECTOR_WALLET: &str = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23";

/// The known key.
pub(crate) fn vector_key() -> SecretKey {
    SecretKey::from_hex(VECTOR_KEY).unwrap()
}

/// A low-s signature of `prehash` by `key`, made directly with k256.
pub(crate) fn raw_sign(key: &SecretKey, prehash: &[u8; 32]) -> (Signature, RecoveryId) {
    key.signing_key().sign_prehash_recoverable(prehash)
}

/// The malleable twin of a signature: s replaced by n - s, the recovery id's parity flipped.
/// It is a valid signature of the same message by the same key, only high-s.
pub(crate) fn high_s_twin(
    signature: &Signature,
    recovery_id: RecoveryId,
) -> (Signature, RecoveryId) {
    let (r, s) = signature.split_scalars();
    let r_bytes = k256::Scalar::from(r).to_bytes();
    let high_s = (-k256::Scalar::from(s)).to_bytes();
    let twin = Signature::from_scalars(r_bytes, high_s).unwrap();
    let flipped = RecoveryId::from_byte(recovery_id.to_byte() ^ 1).unwrap();
    (twin, flipped)
}
