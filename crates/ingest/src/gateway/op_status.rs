//! `GET /op/status/{wallet}/{id}`: where a signed call is: `accepted`, `processing`, `applied`,
//! `failed` (it will be retried; `error` says why) or `dead_lettered` (final; `error` says why),
//! with its `rpclog` entry once applied. 404 for a call never accepted, 400 for a wallet that is
//! not one.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use natsapi_core::{Operation, Reply, Tx, TxError};
use natsapi_rpc::Wallet;
use serde_json::json;

use super::{Gateway, GatewayError};
use crate::db::done;
use crate::db::messages::{self, StatusRow};
use crate::rpc::rpclog::{self, Entry};
use crate::status::MessageStatus;
use crate::time::rfc3339;

/// Reads a call's status row and `rpclog` entry, on the read path.
#[derive(Debug, Clone)]
struct FindCall {
    wallet: Wallet,
    id: String,
}

impl Operation for FindCall {
    type Output = (Option<StatusRow>, Option<Entry>);

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Self::Output>, TxError> {
        let message_id = crate::rpc::call::message_id(&self.wallet, &self.id);
        let row = messages::find(tx, &message_id)?;
        let entry = rpclog::find(tx, &self.wallet.to_string(), &self.id)?;
        done((row, entry))
    }

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// `GET /op/status/{wallet}/{id}`.
pub(super) async fn show(
    State(gateway): State<Gateway>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    match lookup(&gateway, path).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn lookup(
    gateway: &Gateway,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, GatewayError> {
    let Path((wallet, id)) = path.map_err(|e| GatewayError::bad_request(format!("path: {e}")))?;
    let wallet: Wallet =
        wallet.parse().map_err(|e| GatewayError::bad_request(format!("wallet {wallet:?}: {e}")))?;
    let found = crate::db::run(&gateway.shared.store, FindCall { wallet, id: id.clone() }).await;
    let (row, entry) =
        found.map_err(|e| GatewayError::unavailable(format!("cannot read the status: {e}")))?;
    let Some(row) = row else {
        return Err(GatewayError {
            status: StatusCode::NOT_FOUND,
            message: format!("no call {id:?} of wallet {wallet} was accepted"),
        });
    };
    let status = match row.status {
        MessageStatus::Processed => "applied",
        other => other.as_str(),
    };
    let body = json!({
        "id": id,
        "wallet": wallet.to_string(),
        "method": row.entity_type,
        "status": status,
        "attempts": row.attempts,
        "error": row.error,
        "received_at": rfc3339(row.received_at),
        "updated_at": rfc3339(row.updated_at),
        "applied_at": row.processed_at.map(rfc3339),
        "stream_sequence": entry.as_ref().map(|e| e.stream_sequence),
        "ts": entry.as_ref().and_then(|e| e.ts),
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}
