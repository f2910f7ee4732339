//! Lock operations (spec §11): acquire (201/403), release (204/404), heartbeat, and the
//! background operation that deletes expired locks.

use serde::Serialize;

use crate::code::Code;
use crate::error::{DomainError, Reply, Success, TxError, quoted, require};
use crate::lock::Lock;
use crate::operation::Operation;
use crate::reply::Answer;
use crate::tx::Tx;

/// `locks.acquire`: 201 with the lock (`expiresAt = now + ttl`), or 403 (40304) when another
/// execution holds it.
///
/// Re-entrant: the execution that holds the lock may acquire it again, from another process
/// too, which replaces the process id, ttl and expiry. Unlike Resonate, where an expired lock of
/// another execution blocks until the background sweep deletes it, a lock whose `expiresAt` has
/// passed no longer blocks: the acquire takes it over at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireLock {
    /// What to lock.
    pub resource_id: String,
    /// Who takes it.
    pub execution_id: String,
    /// The process of the execution.
    pub process_id: String,
    /// How long the lock lasts without a heartbeat, ms.
    pub ttl: i64,
}

impl AcquireLock {
    fn validate(&self) -> Result<(), DomainError> {
        require("resourceId", &self.resource_id)?;
        require("executionId", &self.execution_id)?;
        require("processId", &self.process_id)?;
        if self.ttl < 0 {
            return Err(DomainError::bad_request("ttl must not be negative"));
        }
        Ok(())
    }
}

impl Operation for AcquireLock {
    type Output = Lock;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Lock>, TxError> {
        if let Err(e) = self.validate() {
            return Ok(Err(e));
        }
        if let Some(held) = tx.lock(&self.resource_id)?
            && held.execution_id != self.execution_id
            && !held.is_expired(now)
        {
            return Ok(Err(DomainError::new(
                Code::LockAlreadyAcquired,
                format!(
                    "lock on {} is already acquired by another execution",
                    quoted(&self.resource_id)
                ),
            )));
        }
        let lock = Lock {
            resource_id: self.resource_id,
            execution_id: self.execution_id,
            process_id: self.process_id,
            ttl: self.ttl,
            expires_at: now.saturating_add(self.ttl),
        };
        tx.put_lock(&lock)?;
        Ok(Ok(Success::created(lock)))
    }
}

impl Answer for AcquireLock {}

/// `locks.release`: 204 when `executionId` held the lock on `resourceId` (expired or not), else
/// 404 (40402).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseLock {
    /// The locked resource.
    pub resource_id: String,
    /// The execution that holds it.
    pub execution_id: String,
}

impl Operation for ReleaseLock {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        let valid = require("resourceId", &self.resource_id)
            .and_then(|()| require("executionId", &self.execution_id));
        if let Err(e) = valid {
            return Ok(Err(e));
        }
        Ok(if tx.delete_lock(&self.resource_id, &self.execution_id)? {
            Ok(Success { code: Code::NoContent, value: () })
        } else {
            Err(DomainError::new(
                Code::LockNotFound,
                format!(
                    "no lock on {} held by execution {}",
                    quoted(&self.resource_id),
                    quoted(&self.execution_id)
                ),
            ))
        })
    }
}

impl Answer for ReleaseLock {}

/// `locks.heartbeat`: extends every live lock of the process to `now + ttl`; 200 with the count.
///
/// A lock that has already expired is not revived (it no longer blocks others, see
/// [`AcquireLock`]); it stays expired until it is released or swept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatLocks {
    /// The process whose locks to extend.
    pub process_id: String,
}

/// What a heartbeat answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocksAffected {
    /// How many locks were extended.
    pub locks_affected: usize,
}

impl Operation for HeartbeatLocks {
    type Output = LocksAffected;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<LocksAffected>, TxError> {
        if let Err(e) = require("processId", &self.process_id) {
            return Ok(Err(e));
        }
        let locks_affected = tx.heartbeat_locks(&self.process_id, now)?;
        Ok(Ok(Success::ok(LocksAffected { locks_affected })))
    }
}

impl Answer for HeartbeatLocks {}

/// Background work: deletes up to `limit` expired locks and reports the next expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireLocks {
    /// Most locks to delete in this transaction.
    pub limit: usize,
}

/// What an [`ExpireLocks`] run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireReport {
    /// The locks it deleted.
    pub expired: Vec<Lock>,
    /// The earliest expiry among the locks left.
    pub next_expiry: Option<i64>,
}

impl Operation for ExpireLocks {
    type Output = ExpireReport;

    /// Usually nothing has expired: the check then never takes the write lock.
    fn read_attempt(&self) -> Option<Self> {
        Some(*self)
    }

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<ExpireReport>, TxError> {
        let expired = tx.expired_locks(now, self.limit)?;
        for lock in &expired {
            tx.delete_lock(&lock.resource_id, &lock.execution_id)?;
        }
        let next_expiry = tx.next_lock_expiry()?;
        Ok(Ok(Success::ok(ExpireReport { expired, next_expiry })))
    }
}
