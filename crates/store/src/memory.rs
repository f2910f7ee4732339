//! The in-memory backend: each write job runs under the write lock, so each operation is
//! atomic; read attempts share the read lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use natsapi_core::promises::PromiseFilter;
use natsapi_core::{Clock, Promise, PromiseState, Tx, TxError};

use crate::job::{Backend, BoxJob};

/// Promises in memory, indexed by id, insertion order and pending deadline.
#[derive(Default)]
struct MemoryState {
    promises: HashMap<String, Promise>,
    by_sort_id: BTreeMap<i64, String>,
    /// `(timeout, sort_id)` of every pending promise.
    deadlines: BTreeSet<(i64, i64)>,
    last_sort_id: i64,
}

impl MemoryState {
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
}

/// A store that keeps everything in process memory.
pub struct MemoryBackend {
    state: RwLock<MemoryState>,
    clock: Arc<dyn Clock>,
}

impl MemoryBackend {
    /// An empty store reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryBackend { state: RwLock::new(MemoryState::default()), clock }
    }
}

impl Backend for MemoryBackend {
    fn submit(&self, mut job: BoxJob) {
        {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            let now = self.clock.now_ms();
            let mut tx = UndoTx { state: &mut state, undo: Vec::new() };
            if job.run(&mut tx, now) {
                // The operation failed after some of its writes: undo them, so a failed
                // operation leaves nothing behind.
                tx.rollback();
            }
        }
        job.deliver(Ok(()));
    }

    fn read_inline(&self, job: &mut dyn FnMut(&mut dyn Tx, i64)) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        job(&mut ReadOnly(&state), self.clock.now_ms());
        true
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// A read-only view of the state: writes ask for the write path.
struct ReadOnly<'s>(&'s MemoryState);

impl Tx for ReadOnly<'_> {
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError> {
        Ok(self.0.promises.get(id).cloned())
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
        Ok(self.0.search(filter, before, limit))
    }

    fn due_promises(&mut self, now: i64, limit: usize) -> Result<Vec<Promise>, TxError> {
        Ok(self.0.due(now, limit))
    }

    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.0.deadlines.first().map(|(deadline, _)| *deadline))
    }
}

/// One write of the running job, and how to take it back.
enum Undo {
    /// The job inserted this promise; `last_sort_id` is the counter before the insert.
    Inserted { id: String, sort_id: i64, timeout: i64, last_sort_id: i64 },
    /// The job completed a promise that was stored like this before.
    Completed(Promise),
}

/// The job's view of the state: every write is logged so a failed job can be undone.
struct UndoTx<'s> {
    state: &'s mut MemoryState,
    undo: Vec<Undo>,
}

impl UndoTx<'_> {
    /// Takes back every logged write, newest first.
    fn rollback(&mut self) {
        let state = &mut *self.state;
        for undo in self.undo.drain(..).rev() {
            match undo {
                Undo::Inserted { id, sort_id, timeout, last_sort_id } => {
                    state.promises.remove(&id);
                    state.by_sort_id.remove(&sort_id);
                    state.deadlines.remove(&(timeout, sort_id));
                    state.last_sort_id = last_sort_id;
                }
                Undo::Completed(before) => {
                    if before.state == PromiseState::Pending {
                        state.deadlines.insert((before.timeout, before.sort_id));
                    }
                    state.promises.insert(before.id.clone(), before);
                }
            }
        }
    }
}

impl Tx for UndoTx<'_> {
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError> {
        self.state.promise(id)
    }

    fn insert_promise(&mut self, promise: &mut Promise) -> Result<bool, TxError> {
        let last_sort_id = self.state.last_sort_id;
        if !self.state.insert_promise(promise)? {
            return Ok(false);
        }
        self.undo.push(Undo::Inserted {
            id: promise.id.clone(),
            sort_id: promise.sort_id,
            timeout: promise.timeout,
            last_sort_id,
        });
        Ok(true)
    }

    fn complete_promise(&mut self, promise: &Promise) -> Result<(), TxError> {
        let before = self.state.promises.get(&promise.id).cloned();
        self.state.complete_promise(promise)?;
        if let Some(before) = before {
            self.undo.push(Undo::Completed(before));
        }
        Ok(())
    }

    fn search_promises(
        &mut self,
        filter: &PromiseFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Promise>, TxError> {
        self.state.search_promises(filter, before, limit)
    }

    fn due_promises(&mut self, now: i64, limit: usize) -> Result<Vec<Promise>, TxError> {
        self.state.due_promises(now, limit)
    }

    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        self.state.next_promise_deadline()
    }
}

impl Tx for MemoryState {
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError> {
        Ok(self.promises.get(id).cloned())
    }

    fn insert_promise(&mut self, promise: &mut Promise) -> Result<bool, TxError> {
        if self.promises.contains_key(&promise.id) {
            return Ok(false);
        }
        self.last_sort_id += 1;
        promise.sort_id = self.last_sort_id;
        if promise.state == PromiseState::Pending {
            self.deadlines.insert((promise.timeout, promise.sort_id));
        }
        self.by_sort_id.insert(promise.sort_id, promise.id.clone());
        self.promises.insert(promise.id.clone(), promise.clone());
        Ok(true)
    }

    fn complete_promise(&mut self, promise: &Promise) -> Result<(), TxError> {
        let Some(stored) = self.promises.get_mut(&promise.id) else {
            return Err(TxError::msg(format!("complete of unknown promise {:?}", promise.id)));
        };
        if stored.state != PromiseState::Pending {
            // The same guard as SQLite's `WHERE state = 1`.
            return Err(TxError::msg(format!("promise {:?} is not pending", promise.id)));
        }
        self.deadlines.remove(&(stored.timeout, stored.sort_id));
        stored.state = promise.state;
        stored.value = promise.value.clone();
        stored.idempotency_key_for_complete = promise.idempotency_key_for_complete.clone();
        stored.completed_on = promise.completed_on;
        Ok(())
    }

    fn search_promises(
        &mut self,
        filter: &PromiseFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Promise>, TxError> {
        Ok(self.search(filter, before, limit))
    }

    fn due_promises(&mut self, now: i64, limit: usize) -> Result<Vec<Promise>, TxError> {
        Ok(self.due(now, limit))
    }

    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.deadlines.first().map(|(deadline, _)| *deadline))
    }
}
