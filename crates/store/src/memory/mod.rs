//! The in-memory backend: each write job runs under the write lock, so each operation is
//! atomic; read attempts share the read lock.
//!
//! Each resource family keeps its table in a file of its own and implements its part of [`Tx`]
//! there, for the read-only view (`ReadOnly`) and for the write path (`UndoTx`), which logs
//! how to take back each write so a failed operation leaves nothing behind. There are no SQL
//! tables in memory: plain SQL ([`natsapi_core::SqlTx`]) fails with [`NoSqlTables`].

mod locks;
mod promises;
mod schedules;
mod sql;
mod tasks;

use std::sync::{Arc, PoisonError, RwLock};

use natsapi_core::{Clock, Tx};

use crate::job::{Backend, BoxJob};

pub use sql::NoSqlTables;

/// Everything the store holds.
#[derive(Default)]
struct MemoryState {
    promises: promises::PromiseTable,
    tasks: tasks::TaskTable,
    callbacks: tasks::CallbackTable,
    schedules: schedules::ScheduleTable,
    locks: locks::LockTable,
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

/// How to take back one write.
type Undo = Box<dyn FnOnce(&mut MemoryState)>;

/// The job's view of the state: every write logs its undo, so a failed job can be taken back.
struct UndoTx<'s> {
    state: &'s mut MemoryState,
    undo: Vec<Undo>,
}

impl UndoTx<'_> {
    /// Logs how to take back the write just made.
    fn on_rollback(&mut self, undo: impl FnOnce(&mut MemoryState) + 'static) {
        self.undo.push(Box::new(undo));
    }

    /// Takes back every logged write, newest first.
    fn rollback(&mut self) {
        while let Some(undo) = self.undo.pop() {
            undo(self.state);
        }
    }
}
