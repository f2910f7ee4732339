//! The writer thread: one connection, group commit.
//!
//! The thread takes a job, opens `BEGIN IMMEDIATE`, and keeps running every job that arrives
//! while it works (up to `max_batch`) before it commits once and releases all their replies. Under
//! load the batch grows by itself, so throughput is not bound by one commit (and one fsync) per
//! request; when idle, a lone job is committed at once, adding no latency.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use natsapi_core::Clock;
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
    if let Err(e) = run_statement(conn, "BEGIN IMMEDIATE") {
        // The job never ran; dropping it tells its caller the store could not run it.
        tracing::error!(error = %e, "cannot begin a store transaction");
        drop(first);
        return;
    }
    let mut deliveries = Vec::new();
    let mut next = Some(first);
    while let Some(job) = next {
        let mut tx = SqliteTx::writer(conn);
        let outcome = job(&mut tx, clock.now_ms());
        if let Err(e) = tx.finish(outcome.failed) {
            tracing::error!(error = %e, "cannot close savepoint");
        }
        deliveries.push(outcome.deliver);
        next = if deliveries.len() < max_batch { jobs.try_recv().ok() } else { None };
    }
    let committed = run_statement(conn, "COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(error = %e, "store commit failed");
        e.to_string()
    });
    for deliver in deliveries {
        deliver(committed.clone().map_err(StoreError::Commit));
    }
}
