//! `GET /clusterizer`: the node's public key and wallet, with which clients check the signatures
//! of query answers; and `GET /op/methods`: the methods calls may name, each with the JSON schema
//! of its params, and the read methods of `POST /query`.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use serde_json::{Value, json};

use super::Gateway;

/// `GET /clusterizer`.
pub(super) async fn identity(State(gateway): State<Gateway>) -> Json<Value> {
    let key = &gateway.shared.node_key;
    let public = key.public_key_uncompressed();
    Json(json!({
        "wallet": key.wallet().to_string(),
        "publicKey": base64::engine::general_purpose::STANDARD.encode(public),
        "publicKeyHex": natsapi_rpc::to_hex(&public),
    }))
}

/// `GET /op/methods`.
pub(super) async fn methods(State(gateway): State<Gateway>) -> Json<Value> {
    let rpc = &gateway.shared.rpc;
    Json(json!({
        "methods": rpc.methods.schemas(),
        "queries": crate::rpc::queries::NAMES,
        "freshness_ms": u64::try_from(rpc.freshness.window.as_millis()).unwrap_or(u64::MAX),
        "require_ts": rpc.freshness.require_ts,
        "max_call_bytes": rpc.max_call_bytes,
    }))
}
