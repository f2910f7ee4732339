//! The transaction interface every store backend implements. Operations in this crate run inside
//! one `Tx`; the backend makes the operation atomic and durable before its reply is released.
//!
//! `Tx` is the sum of one trait per resource family (promises here; the others next to their
//! models), so each family's storage lives in its own files in every backend. Families whose
//! tables are not modelled in this crate (ingested messages, mapped tables) use plain SQL through
//! [`SqlTx`].

use crate::error::TxError;
use crate::lock::LockTx;
use crate::promise::Promise;
use crate::promises::PromiseFilter;
use crate::task::{CallbackTx, TaskTx};

use crate::schedule::ScheduleTx;
use crate::sql::SqlTx;

/// Everything an operation can read and write inside one transaction.
pub trait Tx: PromiseTx + TaskTx + CallbackTx + ScheduleTx + LockTx + SqlTx {}

impl<T: PromiseTx + TaskTx + CallbackTx + ScheduleTx + LockTx + SqlTx + ?Sized> Tx for T {}

/// Reads and writes of promises.
pub trait PromiseTx {
    /// The promise with this id.
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError>;

    /// Inserts the promise and assigns its `sort_id`, unless a promise with its id exists; returns
    /// whether it inserted. (Trying the insert first spares the common create a lookup.)
    fn insert_promise(&mut self, promise: &mut Promise) -> Result<bool, TxError>;

    /// Stores the completion of a pending promise: state, value, completion key and time.
    fn complete_promise(&mut self, promise: &Promise) -> Result<(), TxError>;

    /// Promises matching `filter` with `sort_id` below `before` (all when `None`), newest first,
    /// at most `limit`.
    fn search_promises(
        &mut self,
        filter: &PromiseFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Promise>, TxError>;

    /// Pending promises whose deadline is at or before `now`, earliest first, at most `limit`.
    fn due_promises(&mut self, now: i64, limit: usize) -> Result<Vec<Promise>, TxError>;

    /// The earliest deadline among pending promises.
    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError>;
}
