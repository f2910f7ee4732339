//! A signed call as the gateway and the worker read it: the signature verified, the signer's
//! wallet recovered, the RPC object decoded; and the ids derived from `(wallet, id)`. Both read
//! it the same way, from the same bytes: the worker never trusts the gateway's word.

use bytes::Bytes;
use natsapi_rpc::{Call, CallError, Format, SignatureError, Wallet};
use uuid::Uuid;

/// A call whose signature holds.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signer.
    pub wallet: Wallet,
    /// The RPC object.
    pub call: Call,
    /// How it was sent.
    pub format: Format,
    /// The bytes as sent: the MessagePack envelope, or the JSON body.
    pub raw: Bytes,
    /// The `x-sig` header of a JSON call (none for MessagePack, whose envelope holds it).
    pub signature: Option<String>,
}

/// Why a call cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The signature does not hold, cannot be read, or (JSON) is missing.
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    /// The RPC object is not `{id, method, params}`.
    #[error("call: {0}")]
    Call(#[from] CallError),
}

impl Verified {
    /// Verifies `raw` sent as `format` (with the `x-sig` header `signature` for JSON) and decodes
    /// the call.
    pub fn open(format: Format, raw: Bytes, signature: Option<&str>) -> Result<Self, OpenError> {
        let opened = natsapi_rpc::open(format, &raw, signature)?;
        let call = Call::decode(format, &opened.payload)?;
        // An x-sig sent with a MessagePack call is not its signature: not kept.
        let signature = signature.filter(|_| format == Format::Json).map(str::to_owned);
        Ok(Verified { wallet: opened.wallet, call, format, raw, signature })
    }

    /// The id of the call's status row and of its JetStream message (`Nats-Msg-Id`): the same for
    /// every copy of the call, and never the same for two wallets.
    pub fn message_id(&self) -> Uuid {
        message_id(&self.wallet, &self.call.id)
    }

    /// What makes a copy of the call the same call: its method and params (not its timestamp, so
    /// that a client may sign a retry again). An id sent again with another method or params is
    /// refused.
    pub fn fingerprint(&self) -> String {
        // Writing a JSON value into a hash cannot fail.
        crate::fingerprint::of_value(&self.call.method, &self.call.params).unwrap_or_default()
    }
}

/// The message id of call `id` of `wallet`: a UUID version 8 made of the SHA-256 of both. The
/// version is the calls' own: no other message id of the `messages` table is a version 8 UUID
/// (an `Idempotency-Key` that is one is hashed like any other key, see
/// [`crate::envelope::message_id`]), so no request to `/ingest` can take a call's id.
pub fn message_id(wallet: &Wallet, id: &str) -> Uuid {
    let digest = natsapi_rpc::sha256(format!("natsapi call\n{wallet}\n{id}").as_bytes());
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}
