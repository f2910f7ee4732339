//! Helpers of the unit tests: known keys and hand-made signatures.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, SecretKey as Scalar};

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

/// A low-s signature of `prehash` by `key`, made directly with libsecp256k1.
pub(crate) fn raw_sign(key: &SecretKey, prehash: &[u8; 32]) -> (Signature, RecoveryId) {
    let recoverable =
        RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(*prehash), key.secret());
    let (recovery_id, compact) = recoverable.serialize_compact();
    (Signature::from_compact(&compact).unwrap(), recovery_id)
}

/// The malleable twin of a signature: s replaced by n - s, the recovery id's parity flipped.
/// It is a valid signature of the same message by the same key, only high-s.
pub(crate) fn high_s_twin(
    signature: &Signature,
    recovery_id: RecoveryId,
) -> (Signature, RecoveryId) {
    let mut compact = signature.serialize_compact();
    // n - s: libsecp256k1's negation modulo n, on s read as a scalar (s is 1 to n - 1, so it is
    // a valid secret key).
    let s: [u8; 32] = compact[32..].try_into().unwrap();
    let high_s = Scalar::from_secret_bytes(s).unwrap().negate().to_secret_bytes();
    compact[32..].copy_from_slice(&high_s);
    let twin = Signature::from_compact(&compact).unwrap();
    (twin, RecoveryId::from_u8_masked(recovery_id.to_u8() ^ 1))
}
