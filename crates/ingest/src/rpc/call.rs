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
    /// The `x-sig` header of a JSON call.
    pub signature: Option<String>,
}

/// Why a call cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The signature does not hold or cannot be read.
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    /// A JSON call came without its `x-sig` header.
    #[error(
        "signature: a JSON call needs the header x-sig (base64 of r||s||v over the Keccak-256 of \
         the body)"
    )]
    MissingSignature,
    /// The RPC object is not `{id, method, params}`.
    #[error("call: {0}")]
    Call(#[from] CallError),
}

/// The namespace of the message ids derived from `(wallet, id)`.
const CALL_NAMESPACE: Uuid = Uuid::from_u128(0x3b0e_94d1_7a52_4c8f_9d26_e1f0_5a7b_c483);

impl Verified {
    /// Verifies `raw` sent as `format` (with the `x-sig` header `signature` for JSON) and decodes
    /// the call.
    pub fn open(format: Format, raw: Bytes, signature: Option<&str>) -> Result<Self, OpenError> {
        let opened = match format {
            Format::MsgPack => natsapi_rpc::open_msgpack(&raw)?,
            Format::Json => {
                let signature = signature.ok_or(OpenError::MissingSignature)?;
                natsapi_rpc::open_json(&raw, signature)?
            }
        };
        let call = Call::decode(format, &opened.payload)?;
        Ok(Verified {
            wallet: opened.wallet,
            call,
            format,
            raw,
            signature: signature.map(str::to_owned),
        })
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

/// The message id of call `id` of `wallet`.
pub fn message_id(wallet: &Wallet, id: &str) -> Uuid {
    Uuid::new_v5(&CALL_NAMESPACE, format!("{wallet}\n{id}").as_bytes())
}
