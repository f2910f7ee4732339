//! The lock: a named resource held by one execution until it expires (spec §11), and the store
//! interface for locks.

use serde::Serialize;

use crate::error::TxError;

/// A lock in Resonate's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    /// What is locked; at most one lock per resource.
    pub resource_id: String,
    /// Who holds it; acquiring again with the same execution id is re-entrant.
    pub execution_id: String,
    /// The process the holder runs in; heartbeats go by process.
    pub process_id: String,
    /// How long an acquire or heartbeat keeps it, ms.
    pub ttl: i64,
    /// When it expires, epoch ms.
    pub expires_at: i64,
}

impl Lock {
    /// Whether it has expired at `now`: it then no longer blocks anyone.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }
}

/// Reads and writes of locks.
pub trait LockTx {
    /// The lock on this resource, expired or not.
    fn lock(&mut self, resource_id: &str) -> Result<Option<Lock>, TxError>;

    /// Stores `lock`, replacing any lock on its resource.
    fn put_lock(&mut self, lock: &Lock) -> Result<(), TxError>;

    /// Deletes the lock on `resource_id` if `execution_id` holds it; returns whether it did.
    fn delete_lock(&mut self, resource_id: &str, execution_id: &str) -> Result<bool, TxError>;

    /// Sets `expires_at = now + ttl` (saturating) on every lock of `process_id` that has not
    /// expired at `now`; returns how many.
    fn heartbeat_locks(&mut self, process_id: &str, now: i64) -> Result<usize, TxError>;

    /// Locks expired at `now`, earliest expiry first, at most `limit`.
    fn expired_locks(&mut self, now: i64, limit: usize) -> Result<Vec<Lock>, TxError>;

    /// The earliest expiry among all locks.
    fn next_lock_expiry(&mut self) -> Result<Option<i64>, TxError>;
}
