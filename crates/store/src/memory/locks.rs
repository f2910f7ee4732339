//! Locks in memory: the table, its indexes, and the lock part of [`natsapi_core::Tx`].

use std::collections::{BTreeSet, HashMap};

use natsapi_core::{Lock, LockTx, TxError};

use super::{ReadOnly, UndoTx};

/// Locks indexed by resource, expiry and process.
#[derive(Default)]
pub struct LockTable {
    locks: HashMap<String, Lock>,
    /// `(expires_at, resource_id)` of every lock.
    expiries: BTreeSet<(i64, String)>,
    /// Resource ids of every lock, by process.
    by_process: HashMap<String, BTreeSet<String>>,
}

impl LockTable {
    fn get(&self, resource_id: &str) -> Option<Lock> {
        self.locks.get(resource_id).cloned()
    }

    /// Stores `lock`, replacing any lock on its resource; returns the replaced one.
    fn put(&mut self, lock: Lock) -> Option<Lock> {
        let replaced = self.remove(&lock.resource_id);
        self.expiries.insert((lock.expires_at, lock.resource_id.clone()));
        self.by_process
            .entry(lock.process_id.clone())
            .or_default()
            .insert(lock.resource_id.clone());
        self.locks.insert(lock.resource_id.clone(), lock);
        replaced
    }

    /// Removes the lock on `resource_id` and returns it.
    fn remove(&mut self, resource_id: &str) -> Option<Lock> {
        let lock = self.locks.remove(resource_id)?;
        self.expiries.remove(&(lock.expires_at, lock.resource_id.clone()));
        if let Some(resources) = self.by_process.get_mut(&lock.process_id) {
            resources.remove(resource_id);
            if resources.is_empty() {
                self.by_process.remove(&lock.process_id);
            }
        }
        Some(lock)
    }

    /// Puts the table back as it was for `resource_id`: `before` when there was a lock, none
    /// otherwise.
    fn restore(&mut self, resource_id: &str, before: Option<Lock>) {
        self.remove(resource_id);
        if let Some(lock) = before {
            self.put(lock);
        }
    }

    /// The live locks of `process_id` at `now`.
    fn live_of(&self, process_id: &str, now: i64) -> Vec<Lock> {
        let Some(resources) = self.by_process.get(process_id) else {
            return Vec::new();
        };
        resources
            .iter()
            .filter_map(|r| self.locks.get(r))
            .filter(|lock| !lock.is_expired(now))
            .cloned()
            .collect()
    }

    fn expired(&self, now: i64, limit: usize) -> Vec<Lock> {
        self.expiries
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .take(limit)
            .filter_map(|(_, resource)| self.get(resource))
            .collect()
    }

    fn next_expiry(&self) -> Option<i64> {
        self.expiries.first().map(|(expires_at, _)| *expires_at)
    }
}

impl LockTx for ReadOnly<'_> {
    fn lock(&mut self, resource_id: &str) -> Result<Option<Lock>, TxError> {
        Ok(self.0.locks.get(resource_id))
    }

    fn put_lock(&mut self, _: &Lock) -> Result<(), TxError> {
        Err(TxError::needs_write())
    }

    fn delete_lock(&mut self, _: &str, _: &str) -> Result<bool, TxError> {
        Err(TxError::needs_write())
    }

    fn heartbeat_locks(&mut self, _: &str, _: i64) -> Result<usize, TxError> {
        Err(TxError::needs_write())
    }

    fn expired_locks(&mut self, now: i64, limit: usize) -> Result<Vec<Lock>, TxError> {
        Ok(self.0.locks.expired(now, limit))
    }

    fn next_lock_expiry(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.0.locks.next_expiry())
    }
}

impl LockTx for UndoTx<'_> {
    fn lock(&mut self, resource_id: &str) -> Result<Option<Lock>, TxError> {
        Ok(self.state.locks.get(resource_id))
    }

    fn put_lock(&mut self, lock: &Lock) -> Result<(), TxError> {
        let before = self.state.locks.put(lock.clone());
        let resource = lock.resource_id.clone();
        self.on_rollback(move |state| state.locks.restore(&resource, before));
        Ok(())
    }

    fn delete_lock(&mut self, resource_id: &str, execution_id: &str) -> Result<bool, TxError> {
        match self.state.locks.locks.get(resource_id) {
            Some(lock) if lock.execution_id == execution_id => {}
            _ => return Ok(false),
        }
        let before = self.state.locks.remove(resource_id);
        let resource = resource_id.to_owned();
        self.on_rollback(move |state| state.locks.restore(&resource, before));
        Ok(true)
    }

    fn heartbeat_locks(&mut self, process_id: &str, now: i64) -> Result<usize, TxError> {
        let live = self.state.locks.live_of(process_id, now);
        for lock in &live {
            let extended = Lock { expires_at: now.saturating_add(lock.ttl), ..lock.clone() };
            self.put_lock(&extended)?;
        }
        Ok(live.len())
    }

    fn expired_locks(&mut self, now: i64, limit: usize) -> Result<Vec<Lock>, TxError> {
        Ok(self.state.locks.expired(now, limit))
    }

    fn next_lock_expiry(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.state.locks.next_expiry())
    }
}
