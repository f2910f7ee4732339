//! An operation is one unit of work a store runs atomically: it reads and writes through a [`Tx`]
//! at a given time and produces a [`Reply`].

use crate::error::{Reply, TxError};
use crate::tx::Tx;

/// A domain operation, run by a store inside one transaction. Operations are plain data: a
/// store runs a clone of the operation each time, so that after rolling back a group of
/// operations it can run the survivors again.
pub trait Operation: Clone + Send + 'static {
    /// The resource a success carries.
    type Output: Send + 'static;

    /// Runs the operation at time `now` (epoch ms). `Err` means the store failed and the backend
    /// must undo this operation's writes; `Ok` holds the reply, success or domain error, whose
    /// writes must be committed before the reply is released.
    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Self::Output>, TxError>;

    /// For operations that usually only read: a copy a backend may run first on a read-only
    /// transaction, without queueing for the writer. If that copy tries to write, the backend
    /// gets [`TxError::needs_write`] and runs the original on the write path instead.
    fn read_attempt(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Whether the read may scan many rows (a search): a backend that reads on the caller's
    /// thread (memory) then reads on a blocking thread, so a long scan never stalls the requests
    /// served beside it. (The database backends read on threads of their own anyway.)
    fn scans(&self) -> bool {
        false
    }

    /// The promise the operation reads first, if it reads one by id: a backend that reads over
    /// the network may fetch the promises of many waiting read attempts in one statement before
    /// running them. (A hint: the operation reads through its `Tx` as always.)
    fn first_promise(&self) -> Option<&str> {
        None
    }
}
