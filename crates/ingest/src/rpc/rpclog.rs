//! Rows of `rpclog`: every call a worker applied, once per `(wallet, id)`, with the exact signed
//! bytes, so that a row can be verified again (and replicated) without trusting the database.
//! Portable SQL on the transaction it is given, like [`crate::db::messages`].

use natsapi_core::TxError;
use natsapi_core::sql::{SqlTx, SqlValue};
use serde::Serialize;
use utoipa::ToSchema;

use super::call::Verified;

/// Records `call` (delivered with `stream_sequence`, received at `received_at`) unless its
/// `(wallet, id)` is there; answers whether this call inserted it.
pub fn insert(
    tx: &mut dyn SqlTx,
    call: &Verified,
    stream_sequence: u64,
    received_at: i64,
    now: i64,
) -> Result<bool, TxError> {
    let inserted = tx.execute(
        "INSERT INTO rpclog (wallet, id, method, params, format, raw, signature, ts, \
         stream_sequence, received_at, applied_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (wallet, id) DO NOTHING",
        &[
            SqlValue::Text(call.wallet.to_string()),
            SqlValue::from(call.call.id.as_str()),
            SqlValue::from(call.call.method.as_str()),
            SqlValue::Text(call.call.params.to_string()),
            SqlValue::from(call.format.as_str()),
            SqlValue::Bytes(call.raw.to_vec()),
            call.signature.clone().into(),
            call.call.ts.map_or(SqlValue::Null, SqlValue::Int),
            SqlValue::Int(i64::try_from(stream_sequence).unwrap_or(i64::MAX)),
            SqlValue::Int(received_at),
            SqlValue::Int(now),
        ],
    )?;
    Ok(inserted == 1)
}

/// An `rpclog` row as the API shows it (without the signed bytes).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Entry {
    /// The call's id.
    pub id: String,
    /// The signer.
    pub wallet: String,
    /// The method.
    pub method: String,
    /// The params.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The signed timestamp, if any (epoch ms).
    pub ts: Option<i64>,
    /// The JetStream stream sequence.
    pub stream_sequence: i64,
    /// When the gateway received it (epoch ms).
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: i64,
    /// When a worker applied it (epoch ms).
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub applied_at: i64,
}

const COLUMNS: &str = "id, wallet, method, params, ts, stream_sequence, received_at, applied_at";

fn entry(row: Vec<SqlValue>) -> Entry {
    let column = |i: usize| row.get(i).unwrap_or(&SqlValue::Null);
    let text = |i: usize| column(i).as_str().unwrap_or_default().to_owned();
    let int = |i: usize| column(i).as_i64().unwrap_or_default();
    Entry {
        id: text(0),
        wallet: text(1),
        method: text(2),
        params: serde_json::from_str(column(3).as_str().unwrap_or("null"))
            .unwrap_or(serde_json::Value::Null),
        ts: column(4).as_i64(),
        stream_sequence: int(5),
        received_at: int(6),
        applied_at: int(7),
    }
}

/// The entry of call `id` of `wallet`, if a worker applied it.
pub fn find(tx: &mut dyn SqlTx, wallet: &str, id: &str) -> Result<Option<Entry>, TxError> {
    let rows = tx.query(
        &format!("SELECT {COLUMNS} FROM rpclog WHERE wallet = $1 AND id = $2"),
        &[SqlValue::from(wallet), SqlValue::from(id)],
    )?;
    Ok(rows.into_iter().next().map(entry))
}

/// The entries of `wallet` (of `method` only, when given) after stream sequence `after`, in
/// stream order, at most `limit`.
pub fn list(
    tx: &mut dyn SqlTx,
    wallet: &str,
    method: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<Entry>, TxError> {
    let rows = tx.query(
        &format!(
            "SELECT {COLUMNS} FROM rpclog WHERE wallet = $1 AND stream_sequence > $2 \
             AND (CAST($3 AS TEXT) IS NULL OR method = CAST($3 AS TEXT)) ORDER BY stream_sequence, id LIMIT $4"
        ),
        &[SqlValue::from(wallet), SqlValue::Int(after), method.into(), SqlValue::Int(limit)],
    )?;
    Ok(rows.into_iter().map(entry).collect())
}
