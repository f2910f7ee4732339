//! The codec of natsapi's signed RPC calls: the call object, its two signed wire formats,
//! secp256k1 keys and the wallets that name signers. Pure: no I/O but key files, no runtime.
//!
//! # The call
//!
//! A [`Call`] is `{id, method, params, ts}`: `id` names the call (unique per wallet), `method`
//! the procedure, `params` its arguments (any JSON value), `ts` when it was made (epoch
//! milliseconds, optional). [`Call::decode`] enforces the rules (see [`Call`]) in both formats
//! and names the problem when it refuses.
//!
//! # The two formats
//!
//! * **MessagePack envelope** ([`Format::MsgPack`], content type [`MSGPACK_CONTENT_TYPE`]), the
//!   wire form of the original `ChantCodec` (Audius clusterizer, @noble/secp256k1 v1 and
//!   @msgpack/msgpack): the call is encoded as a MessagePack map (the *payload*), its SHA-256
//!   (no prefix) is signed with secp256k1, and the request body is the MessagePack array
//!   `[11, payload (bin), signature (bin), recoveryId (int)]`. The signature may be 64 bytes
//!   r‖s or ASN.1 DER (noble v1's default output). Magic 11 ([`SIGNED_MAGIC`]) is a signed
//!   envelope; 12 and 13, the original's encrypted envelopes, are refused. See
//!   [`sign_msgpack`] and [`open_msgpack`].
//! * **JSON body** ([`Format::Json`]): the body is the call's JSON, and the
//!   [`SIGNATURE_HEADER`] (`x-sig`) header carries standard base64 of 65 bytes r‖s‖v, a
//!   secp256k1 signature of the Keccak-256 (Ethereum's, not SHA3-256; no message prefix) of the
//!   exact body bytes, v the recovery id (0 or 1; 27 and 28 are read as 0 and 1). See
//!   [`sign_json`] and [`open_json`].
//!
//! [`sign_call`] encodes and signs a call in either format; [`open`] checks either.
//!
//! # Wallets
//!
//! A signer is named by its [`Wallet`], as in Ethereum: `0x` and the lowercase hex of the last
//! 20 bytes of the Keccak-256 of its 64-byte uncompressed public key (x ‖ y).
//!
//! # What is verified, and why
//!
//! * **Recovery.** The public key is recovered from the hash, the signature and its recovery
//!   id, and [`Opened::wallet`] is that key's wallet. Recovery yields *some* key for nearly any
//!   well-formed signature, and that key verifies the signature by construction: the original's
//!   check (recover, then verify against the recovered key, then accept) was a tautology that
//!   authenticated nothing, so it is not repeated here (it would double the cost). What
//!   authenticates a call is the caller comparing [`Opened::wallet`] with the wallets it trusts. A tampered payload recovers another wallet
//!   (or none), never the signer's.
//! * **Low-s only.** For every valid signature (r, s), (r, n − s) with the recovery id's parity
//!   flipped is valid too, for the same message and key: each call would have two signed forms,
//!   and anything keyed on the signature bytes (replay checks, logs) would see two calls. Like
//!   Bitcoin (BIP 62) and Ethereum (EIP-2), high-s signatures are refused
//!   ([`SignatureError::HighS`]); signatures made here are always low-s (as noble's are, by
//!   default).
//! * **Strict structure.** The envelope is exactly the 4-element array, magic 11, binary
//!   payload and signature, integer recovery id 0 to 3, nothing after it; the header is 65
//!   bytes. One byte string, one reading.
//!
//! Replay (the same signed call sent twice) is not this crate's concern: `id` (unique per
//! wallet) and `ts` are for whoever executes calls.

mod call;
mod envelope;
mod error;
mod format;
mod hash;
mod hex;
mod json_sig;
mod key;
mod msgpack;
mod recover;
mod signed_call;
#[cfg(test)]
mod test_support;
mod value;
mod wallet;

pub use call::{Call, CallError, MAX_DEPTH, MAX_ID_CHARS, MAX_METHOD_CHARS};
pub use envelope::{Opened, SIGNED_MAGIC, open_msgpack, sign_msgpack};
pub use error::SignatureError;
pub use format::{Format, JSON_CONTENT_TYPE, MSGPACK_CONTENT_TYPE, UnknownFormat};
pub use hash::{keccak256, sha256};
pub use hex::encode as to_hex;
pub use json_sig::{SIGNATURE_HEADER, open_json, sign_json};
pub use key::{KeyError, SecretKey};
pub use msgpack::MsgPackError;
pub use signed_call::{SignedCall, open, sign_call};
pub use value::{value_from_msgpack, value_to_msgpack};
pub use wallet::{Wallet, WalletParseError};
