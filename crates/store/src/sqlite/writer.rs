//! The writer thread: one connection, group commit.
//!
//! The thread takes a job, opens `BEGIN IMMEDIATE`, and keeps running every job that arrives
//! while it works (up to `max_batch`) before it commits once and releases all their replies. Under
//! load the batch grows by itself, so throughput is not bound by one commit (and one fsync) per
//! request; when idle, a lone job is committed at once, adding no latency.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use natsapi_core::{Clock, TxError};
use rusqlite::Connection;

use super::tx::{SqliteTx, run_statement};
use crate::error::StoreError;
use crate::job::Job;

/// Runs until every sender is gone.
pub fn write_loop(conn: Connection, jobs: Receiver<Job>, clock: Arc<dyn Clock>, max_batch: usize) {
    while let Ok(first) = jobs.recv() {
        run_batch(&conn, first, &jobs, clock.as_ref(), max_batch);
    }
    tracing::debug!("sqlite writer stopped");
}

/// One transaction: `first` and whatever queues up meanwhile, then one commit.
fn run_batch(
    conn: &Connection,
    first: Job,
    jobs: &Receiver<Job>,
    clock: &dyn Clock,
    max_batch: usize,
) {
    if !conn.is_autocommit() {
        // A transaction was left open by a failure that could not roll back: end it first.
        let _ = conn.execute_batch("ROLLBACK");
    }
    if let Err(e) = run_statement(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin a store transaction");
        let outcome = first(&mut FailedTx(e.to_string()), clock.now_ms());
        (outcome.deliver)(Err(StoreError::Begin(e.to_string())));
        return;
    }
    let mut deliveries = Vec::new();
    let mut broken = None;
    let mut next = Some(first);
    while let Some(job) = next {
        let mut tx = SqliteTx::writer(conn);
        let outcome = job(&mut tx, clock.now_ms());
        if let Err(e) = tx.finish(outcome.failed) {
            // The operation's writes can no longer be kept apart from the others: the whole
            // transaction is rolled back and every operation in it fails.
            tracing::error!(error = %e, "cannot close savepoint");
            broken = Some(e.to_string());
        } else if conn.is_autocommit() {
            // SQLite rolled the whole transaction back by itself (I/O error, disk full): what
            // ran before is gone, and nothing may run outside a transaction.
            tracing::error!("the store transaction was rolled back by SQLite");
            broken = Some("the store transaction was rolled back (I/O error?)".to_owned());
        }
        deliveries.push(outcome.deliver);
        next = if broken.is_none() && deliveries.len() < max_batch {
            jobs.try_recv().ok()
        } else {
            None
        };
    }
    let committed = match broken {
        Some(e) => Err(e),
        None => run_statement(conn, "COMMIT").map_err(|e| e.to_string()),
    };
    let committed = committed.map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(error = %e, "store transaction failed");
        e
    });
    for deliver in deliveries {
        deliver(committed.clone().map_err(StoreError::Commit));
    }
}

/// The transaction a job sees when none could be opened (with the reason): every call fails, so
/// the job reports the failure to its caller instead of being dropped.
struct FailedTx(String);

impl FailedTx {
    fn failure(&self) -> TxError {
        TxError::msg(format!("cannot start a store transaction: {}", self.0))
    }
}

impl natsapi_core::Tx for FailedTx {
    fn promise(&mut self, _: &str) -> Result<Option<natsapi_core::Promise>, TxError> {
        Err(self.failure())
    }
    fn insert_promise(&mut self, _: &mut natsapi_core::Promise) -> Result<bool, TxError> {
        Err(self.failure())
    }
    fn complete_promise(&mut self, _: &natsapi_core::Promise) -> Result<(), TxError> {
        Err(self.failure())
    }
    fn search_promises(
        &mut self,
        _: &natsapi_core::promises::PromiseFilter,
        _: Option<i64>,
        _: usize,
    ) -> Result<Vec<natsapi_core::Promise>, TxError> {
        Err(self.failure())
    }
    fn due_promises(&mut self, _: i64, _: usize) -> Result<Vec<natsapi_core::Promise>, TxError> {
        Err(self.failure())
    }
    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        Err(self.failure())
    }
}
