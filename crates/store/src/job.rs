//! The type-erased unit of work a backend executes: run an operation in a transaction (again,
//! if a rollback undid its first run), then release its reply once the transaction's fate is
//! known.

use crate::error::StoreError;
use natsapi_core::Tx;

/// One queued operation and the caller waiting for it.
pub trait Job: Send {
    /// Runs the operation at `now` (epoch ms) in the open transaction. Returns true when it
    /// failed: the backend must then undo whatever it wrote. A backend may run a job again in a
    /// new transaction after rolling back the first; the last run's result is the one delivered.
    fn run(&mut self, tx: &mut dyn Tx, now: i64) -> bool;

    /// Replaces the outcome of the last run with `error`: the backend failed the job although
    /// its operation reported success (it went on after a statement failed, or it kept
    /// conflicting with other transactions), so its writes are gone and so must its reply be.
    fn fail(&mut self, error: StoreError) {
        let _ = error;
    }

    /// The promise the job's operation reads first (see
    /// [`natsapi_core::Operation::first_promise`]), for a backend that fetches ahead.
    fn first_promise(&self) -> Option<&str> {
        None
    }

    /// Releases the reply of the last run, given whether its transaction committed. A job whose
    /// run failed reports its own failure whatever `committed` says.
    fn deliver(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A queued job.
pub type BoxJob = Box<dyn Job>;

/// A storage backend: executes jobs atomically, each job's writes committed before its delivery.
pub trait Backend: Send + Sync + 'static {
    /// Queues a job. A backend that has shut down drops it, which the caller sees as closed.
    fn submit(&self, job: BoxJob);

    /// Runs `job` at once, on a read-only view of the caller's thread, when the backend reads
    /// that way: a backend whose reads do no I/O (memory), so that a read costs no hand-over to
    /// another thread. Every write inside fails with `TxError::needs_write`. Returns false
    /// (without running `job`) when the backend has no such path.
    fn read_inline(&self, job: &mut dyn FnMut(&mut dyn Tx, i64)) -> bool {
        let _ = job;
        false
    }

    /// Whether the backend reads on threads of its own ([`Backend::submit_read`]) rather than
    /// on the caller's ([`Backend::read_inline`]): a database is read with blocking I/O (a file,
    /// or a server over the network), never on a runtime thread, and its read threads take the
    /// waiting reads in batches.
    fn queues_reads(&self) -> bool {
        false
    }

    /// Queues a read attempt for the backend's read threads: the job runs on a read-only
    /// transaction, where every write fails with `TxError::needs_write`, and is delivered once it
    /// has run (a job that could not run is delivered with the reason). Backends that do not
    /// queue reads refuse the job at once.
    fn submit_read(&self, job: BoxJob) {
        job.deliver(Err(StoreError::Closed));
    }

    /// A short name for logs and health: `memory`, `sqlite`, `postgres`.
    fn kind(&self) -> &'static str;
}
