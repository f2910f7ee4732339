//! Signed RPC calls: `{id, method, params, ts?}` signed with the caller's secp256k1 wallet key
//! (the codec is [`natsapi_rpc`]), taken by the gateway (`POST /op`), kept in JetStream as the
//! exact signed bytes, and applied by the worker, once per `(wallet, id)`, into `rpclog` and the
//! method's tables in one transaction. Signed queries (`POST /query`) read them back, answered
//! signed by the node's key.
//!
//! What the original design lacked, and this one does: an id is unique per wallet (one wallet
//! cannot take another's), a call without an id or with an unknown method or bad params is
//! refused before it is stored, a signed timestamp bounds replays, high-s signatures are refused,
//! the raw signed bytes are kept, messages are acknowledged only after the transaction commits,
//! failures are retried and then dead-lettered, and query answers are signed.

pub mod call;
pub mod freshness;
pub mod methods;
pub(crate) mod node_key;
pub mod queries;
pub mod rpclog;
pub mod track_comments;

use std::time::Duration;

pub use call::Verified;
pub use freshness::Freshness;
pub use methods::{CallContext, Methods, RpcMethod};

use crate::stream::StreamSettings;

/// How a gateway and its workers take signed calls.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// The methods calls may name.
    pub methods: Methods,
    /// The call stream and its dead-letter stream.
    pub streams: StreamSettings,
    /// How far a call's signed timestamp may be from the gateway's clock.
    pub freshness: Freshness,
    /// Largest body of `POST /op` and `POST /query`, in bytes.
    pub max_call_bytes: usize,
}

impl Default for RpcSettings {
    fn default() -> Self {
        RpcSettings {
            methods: Methods::shipped(),
            streams: default_streams(),
            freshness: Freshness::default(),
            max_call_bytes: 256 << 10,
        }
    }
}

/// The call streams' defaults: `RPC` on `rpc.op.<method>`, dead letters in `RPC_DLQ` on
/// `rpc.dlq.<method>`.
pub fn default_streams() -> StreamSettings {
    StreamSettings {
        name: "RPC".into(),
        subject_prefix: "rpc.op".into(),
        dead_letter_name: "RPC_DLQ".into(),
        dead_letter_prefix: "rpc.dlq".into(),
        max_bytes: 1 << 30,
        duplicate_window: Duration::from_secs(120),
    }
}

/// The HTTP header in which a client may name its wallet: a call signed by another wallet (an
/// altered one) is then refused.
pub const WALLET_HEADER: &str = "x-wallet";
/// The NATS header naming how a call was sent (`msgpack` or `json`).
pub const FORMAT_HEADER: &str = "Natsapi-Rpc-Format";
/// The NATS header carrying a JSON call's signature.
pub const SIGNATURE_HEADER: &str = "Natsapi-Rpc-Signature";
/// The NATS header carrying when the gateway received a call (epoch ms).
pub const RECEIVED_HEADER: &str = "Natsapi-Received-At";
