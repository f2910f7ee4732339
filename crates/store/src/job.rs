//! The type-erased unit of work a backend executes: run an operation in a transaction, then
//! release its reply once the transaction's fate is known.

use crate::error::StoreError;
use natsapi_core::Tx;

/// Runs inside a transaction at the given time (epoch ms) and says what to do after commit.
pub type Job = Box<dyn FnOnce(&mut dyn Tx, i64) -> JobOutcome + Send>;

/// What a job left behind.
pub struct JobOutcome {
    /// The operation failed: the backend must roll back its writes.
    pub failed: bool,
    /// Releases the reply, given whether the enclosing transaction committed.
    pub deliver: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// A storage backend: executes jobs atomically, each job's writes committed before its delivery.
pub trait Backend: Send + Sync + 'static {
    /// Queues a job. A backend that has shut down drops it, which the caller sees as closed.
    fn submit(&self, job: Job);

    /// Runs `job` at once, on a read-only transaction of the caller's thread, when the backend
    /// has such a read path; every write inside it fails with `TxError::needs_write`. Returns
    /// false (without running `job`) when the backend has none.
    fn read_inline(&self, job: &mut dyn FnMut(&mut dyn Tx, i64)) -> bool {
        let _ = job;
        false
    }

    /// A short name for logs and health: `memory`, `sqlite`.
    fn kind(&self) -> &'static str;
}
