//! Promises in memory: the table, its indexes, and the promise part of [`natsapi_core::Tx`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use natsapi_core::promises::PromiseFilter;
use natsapi_core::{Promise, PromiseState, PromiseTx, TxError};

use super::{ReadOnly, UndoTx};

/// Promises indexed by id, insertion order and pending deadline.
#[derive(Default)]
pub struct PromiseTable {
    promises: HashMap<String, Promise>,
    by_sort_id: BTreeMap<i64, String>,
    /// `(timeout, sort_id)` of every pending promise.
    deadlines: BTreeSet<(i64, i64)>,
    last_sort_id: i64,
}

impl PromiseTable {
    fn get(&self, id: &str) -> Option<Promise> {
        self.promises.get(id).cloned()
    }

    /// Promises matching `filter` below sort id `before`, newest first.
    fn search(&self, filter: &PromiseFilter, before: Option<i64>, limit: usize) -> Vec<Promise> {
        let upper = before.unwrap_or(i64::MAX);
        self.by_sort_id
            .range(..upper)
            .rev()
            .filter_map(|(_, id)| self.promises.get(id))
            .filter(|p| filter.matches(p))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Pending promises due at `now`, earliest deadline first.
    fn due(&self, now: i64, limit: usize) -> Vec<Promise> {
        self.deadlines
            .range(..=(now, i64::MAX))
            .take(limit)
            .filter_map(|(_, sort_id)| self.by_sort_id.get(sort_id))
            .filter_map(|id| self.promises.get(id))
            .cloned()
            .collect()
    }

    fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Inserts `promise` with the next sort id unless its id is taken; returns whether it did.
    fn insert(&mut self, promise: &mut Promise) -> bool {
        if self.promises.contains_key(&promise.id) {
            return false;
        }
        self.last_sort_id += 1;
        promise.sort_id = self.last_sort_id;
        if promise.state == PromiseState::Pending {
            self.deadlines.insert((promise.timeout, promise.sort_id));
        }
        self.by_sort_id.insert(promise.sort_id, promise.id.clone());
        self.promises.insert(promise.id.clone(), promise.clone());
        true
    }

    /// Removes a promise inserted by a job that failed, and gives its sort id back.
    fn remove_inserted(&mut self, id: &str) {
        if let Some(promise) = self.promises.remove(id) {
            self.by_sort_id.remove(&promise.sort_id);
            self.deadlines.remove(&(promise.timeout, promise.sort_id));
            if promise.sort_id == self.last_sort_id {
                self.last_sort_id -= 1;
            }
        }
    }

    /// Stores the completion of a pending promise and returns the promise as it was before.
    fn complete(&mut self, promise: &Promise) -> Result<Promise, TxError> {
        let Some(stored) = self.promises.get_mut(&promise.id) else {
            return Err(TxError::msg(format!("complete of unknown promise {:?}", promise.id)));
        };
        if stored.state != PromiseState::Pending {
            // The same guard as SQLite's `WHERE state = 1`.
            return Err(TxError::msg(format!("promise {:?} is not pending", promise.id)));
        }
        let before = stored.clone();
        self.deadlines.remove(&(stored.timeout, stored.sort_id));
        stored.state = promise.state;
        stored.value = promise.value.clone();
        stored.idempotency_key_for_complete = promise.idempotency_key_for_complete.clone();
        stored.completed_on = promise.completed_on;
        Ok(before)
    }

    /// Puts back a promise as it was before a completion that is being undone.
    fn restore(&mut self, before: Promise) {
        if before.state == PromiseState::Pending {
            self.deadlines.insert((before.timeout, before.sort_id));
        }
        self.promises.insert(before.id.clone(), before);
    }
}

impl PromiseTx for ReadOnly<'_> {
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError> {
        Ok(self.0.promises.get(id))
    }

    fn insert_promise(&mut self, _: &mut Promise) -> Result<bool, TxError> {
        Err(TxError::needs_write())
    }

    fn complete_promise(&mut self, _: &Promise) -> Result<(), TxError> {
        Err(TxError::needs_write())
    }

    fn search_promises(
        &mut self,
        filter: &PromiseFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Promise>, TxError> {
        Ok(self.0.promises.search(filter, before, limit))
    }

    fn due_promises(&mut self, now: i64, limit: usize) -> Result<Vec<Promise>, TxError> {
        Ok(self.0.promises.due(now, limit))
    }

    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.0.promises.next_deadline())
    }
}

impl PromiseTx for UndoTx<'_> {
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError> {
        Ok(self.state.promises.get(id))
    }

    fn insert_promise(&mut self, promise: &mut Promise) -> Result<bool, TxError> {
        if !self.state.promises.insert(promise) {
            return Ok(false);
        }
        let id = promise.id.clone();
        self.on_rollback(move |state| state.promises.remove_inserted(&id));
        Ok(true)
    }

    fn complete_promise(&mut self, promise: &Promise) -> Result<(), TxError> {
        let before = self.state.promises.complete(promise)?;
        self.on_rollback(move |state| state.promises.restore(before));
        Ok(())
    }

    fn search_promises(
        &mut self,
        filter: &PromiseFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Promise>, TxError> {
        Ok(self.state.promises.search(filter, before, limit))
    }

    fn due_promises(&mut self, now: i64, limit: usize) -> Result<Vec<Promise>, TxError> {
        Ok(self.state.promises.due(now, limit))
    }

    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.state.promises.next_deadline())
    }
}
