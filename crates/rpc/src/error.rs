//! Why a signed call was refused: [`SignatureError`], one kind per problem, each message fit
//! for an HTTP 400 answer.

use crate::msgpack::MsgPackError;

/// Why a signed envelope or a signed JSON body was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The envelope is not MessagePack (truncated, or a reserved byte).
    #[error("the signed envelope is not valid MessagePack: {0}")]
    MsgPack(#[source] MsgPackError),
    /// The envelope is not an array.
    #[error(
        "the signed envelope must be the MessagePack array [11, payload, signature, recoveryId]; found {found}"
    )]
    NotAnArray {
        /// What it is instead.
        found: &'static str,
    },
    /// The envelope's array does not have 4 elements.
    #[error(
        "the signed envelope must be an array of 4 elements [11, payload, signature, recoveryId]; this one has {len}"
    )]
    ArrayLength {
        /// Its number of elements.
        len: u32,
    },
    /// The magic (element 0) is 12 or 13: an encrypted envelope of the original protocol.
    #[error(
        "the envelope's magic is {magic}, an encrypted envelope; encrypted envelopes are not accepted, send a signed envelope (magic 11)"
    )]
    Encrypted {
        /// The magic found.
        magic: u64,
    },
    /// The magic (element 0) is another integer.
    #[error("the envelope's magic is {magic}; a signed envelope starts with 11")]
    WrongMagic {
        /// The magic found.
        magic: i128,
    },
    /// An element of the envelope has the wrong MessagePack type.
    #[error("element {index} of the envelope ({name}) must be {expected}; found {found}")]
    ElementType {
        /// Its position in the array (0 to 3).
        index: usize,
        /// Its role: magic, payload, signature or recovery id.
        name: &'static str,
        /// The type it must have.
        expected: &'static str,
        /// The type it has.
        found: &'static str,
    },
    /// Bytes follow the envelope's array.
    #[error("{count} bytes follow the envelope's array; send the array alone")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A 64-byte compact signature whose r or s is zero or not below the group order.
    #[error("the 64-byte signature (r‖s) is invalid: r and s must each be between 1 and n-1: {0}")]
    Compact(#[source] secp256k1::Error),
    /// A signature that is not 64 bytes and not valid ASN.1 DER.
    #[error(
        "the {len}-byte signature is neither 64 bytes (r‖s) nor a valid ASN.1 DER ECDSA signature: {source}"
    )]
    Der {
        /// The signature's length.
        len: usize,
        /// Why DER parsing failed.
        #[source]
        source: secp256k1::Error,
    },
    /// The envelope's recovery id is not 0 to 3.
    #[error("the recovery id is {found}; it must be 0, 1, 2 or 3")]
    RecoveryId {
        /// The value found.
        found: i128,
    },
    /// A JSON call came without its x-sig header.
    #[error("a JSON call must carry its signature in the x-sig header; there is none")]
    MissingHeader,
    /// The x-sig header is not standard base64.
    #[error("the x-sig header is not standard base64: {0}")]
    HeaderBase64(#[source] base64::DecodeError),
    /// The x-sig header does not decode to 65 bytes.
    #[error("the x-sig header must decode to 65 bytes (r‖s‖v); it decodes to {len}")]
    HeaderLength {
        /// How many bytes it decodes to.
        len: usize,
    },
    /// The x-sig header's v (byte 65) is not 0 to 3, 27 or 28.
    #[error("the x-sig header's v (its last byte) is {found}; it must be 0, 1, 2, 3, 27 or 28")]
    HeaderRecoveryId {
        /// The value found.
        found: u8,
    },
    /// The x-sig header's r‖s is invalid (r or s zero or not below the group order).
    #[error("the x-sig signature's r‖s is invalid: r and s must each be between 1 and n-1: {0}")]
    HeaderSignature(#[source] secp256k1::Error),
    /// s is in the upper half of the group order: the malleable twin of a low-s signature.
    #[error("the signature is high-s (s > n/2); sign with low-s (normalized) signatures")]
    HighS,
    /// No public key can be recovered from this signature and recovery id.
    #[error(
        "no public key can be recovered from this signature and recovery id (a wrong recovery id, or not a signature): {0}"
    )]
    Recovery(#[source] secp256k1::Error),
}
