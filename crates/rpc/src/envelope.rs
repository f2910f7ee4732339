//! The signed MessagePack envelope `[11, payload, signature, recoveryId]`: the payload's SHA-256
//! signed with secp256k1, the signature compact (r‖s) or DER.

use secp256k1::ecdsa::Signature;

use crate::error::SignatureError;
use crate::hash::sha256;
use crate::key::SecretKey;
use crate::msgpack::{Item, Reader, Writer};
use crate::recover;
use crate::wallet::Wallet;

/// The magic (first element) of a signed envelope.
pub const SIGNED_MAGIC: u64 = 11;

/// What a valid signature vouches for: who signed, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The signer's wallet, from the public key recovered from the signature.
    pub wallet: Wallet,
    /// The signed bytes: the envelope's inner payload, or the JSON body.
    pub payload: Vec<u8>,
}

/// Signs `payload` (SHA-256, low-s) and wraps it in the envelope
/// `[11, payload, signature, recoveryId]`; the signature is 64 bytes r‖s, or DER if `der`.
///
/// # Panics
/// If `payload` is 4 GiB or more, which MessagePack cannot hold.
pub fn sign_msgpack(key: &SecretKey, payload: &[u8], der: bool) -> Vec<u8> {
    let (signature, recovery_id) = recover::sign(key.secret(), &sha256(payload));
    let der_form;
    let compact_form;
    let signature_bytes: &[u8] = if der {
        der_form = signature.serialize_der();
        &der_form
    } else {
        compact_form = signature.serialize_compact();
        &compact_form
    };
    let mut writer = Writer::with_capacity(payload.len() + signature_bytes.len() + 16);
    writer.array_len(4);
    writer.uint(SIGNED_MAGIC);
    writer.bin(payload);
    writer.bin(signature_bytes);
    writer.uint(u64::from(recovery_id.to_u8()));
    writer.into_vec()
}

/// Reads a signed envelope, checks its signature and returns the signer's wallet and the inner
/// payload. The signature may be 64 bytes (r‖s) or DER; it must be low-s.
pub fn open_msgpack(envelope: &[u8]) -> Result<Opened, SignatureError> {
    let mut reader = Reader::new(envelope);
    match next(&mut reader)? {
        Item::Array(4) => {}
        Item::Array(len) => return Err(SignatureError::ArrayLength { len }),
        other => return Err(SignatureError::NotAnArray { found: other.kind() }),
    }
    match next(&mut reader)? {
        Item::Uint(SIGNED_MAGIC) => {}
        Item::Uint(magic @ (12 | 13)) => return Err(SignatureError::Encrypted { magic }),
        Item::Uint(magic) => return Err(SignatureError::WrongMagic { magic: magic.into() }),
        Item::Neg(magic) => return Err(SignatureError::WrongMagic { magic: magic.into() }),
        other => return Err(element_type(0, "magic", "the integer 11", &other)),
    }
    let payload = match next(&mut reader)? {
        Item::Bin(payload) => payload,
        other => return Err(element_type(1, "payload", "binary", &other)),
    };
    let signature = match next(&mut reader)? {
        Item::Bin(signature) => signature,
        other => return Err(element_type(2, "signature", "binary", &other)),
    };
    let recovery_id = match next(&mut reader)? {
        Item::Uint(found) => u8::try_from(found)
            .ok()
            .and_then(recover::recovery_id)
            .ok_or(SignatureError::RecoveryId { found: found.into() })?,
        Item::Neg(found) => {
            return Err(SignatureError::RecoveryId { found: found.into() });
        }
        other => return Err(element_type(3, "recovery id", "an integer", &other)),
    };
    if reader.remaining() > 0 {
        return Err(SignatureError::TrailingBytes { count: reader.remaining() });
    }
    let signature = parse_signature(signature)?;
    let wallet = recover::signer(&sha256(payload), &signature, recovery_id)?;
    Ok(Opened { wallet, payload: payload.to_vec() })
}

/// A signature of 64 bytes (r‖s) or, at any other length, ASN.1 DER.
fn parse_signature(bytes: &[u8]) -> Result<Signature, SignatureError> {
    if bytes.len() == 64 {
        recover::parse_compact(bytes).map_err(SignatureError::Compact)
    } else {
        recover::parse_der(bytes).map_err(|source| SignatureError::Der { len: bytes.len(), source })
    }
}

/// The next item of the envelope.
fn next<'a>(reader: &mut Reader<'a>) -> Result<Item<'a>, SignatureError> {
    reader.next_item().map_err(SignatureError::MsgPack)
}

/// An element of the wrong type.
fn element_type(
    index: usize,
    name: &'static str,
    expected: &'static str,
    found: &Item<'_>,
) -> SignatureError {
    SignatureError::ElementType { index, name, expected, found: found.kind() }
}

#[cfg(test)]
mod tests;
