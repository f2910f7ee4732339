//! The node's key, which signs the answers of `POST /query`. Made on the first start and kept in
//! the store (`rpc_node_key`), so that it survives restarts and every instance on one database
//! answers as one node wallet; instances starting together agree on the first key inserted.

use natsapi_core::sql::SqlValue;
use natsapi_core::{Operation, Reply, Tx, TxError};
use natsapi_rpc::SecretKey;

use crate::db::done;

/// Inserts `candidate` (hex) as the node key unless there is one; answers the stored key's hex.
#[derive(Debug, Clone)]
pub(crate) struct LoadNodeKey {
    /// A fresh key, used when the store has none.
    pub candidate: String,
}

impl Operation for LoadNodeKey {
    type Output = String;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<String>, TxError> {
        tx.execute(
            "INSERT INTO rpc_node_key (name, secret, created_at) VALUES ('default', $1, $2) \
             ON CONFLICT (name) DO NOTHING",
            &[SqlValue::Text(self.candidate.clone()), SqlValue::Int(now)],
        )?;
        let rows = tx.query("SELECT secret FROM rpc_node_key WHERE name = 'default'", &[])?;
        let secret = rows
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or(self.candidate);
        done(secret)
    }
}

/// Loads the node key from `store`, making it on the first start.
pub(crate) async fn load(store: &natsapi_store::Store) -> Result<SecretKey, crate::IngestError> {
    let candidate = SecretKey::try_generate().map_err(crate::IngestError::NodeKey)?.to_hex();
    let hex = crate::db::run(store, LoadNodeKey { candidate }).await?;
    SecretKey::from_hex(&hex).map_err(crate::IngestError::NodeKey)
}
