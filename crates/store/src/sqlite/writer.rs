//! The writer thread: one connection, group commit ([`crate::group`]).
//!
//! The thread takes a job, opens `BEGIN IMMEDIATE`, and keeps running every job that arrives
//! while it works (up to `max_batch`) before it commits once and releases all their replies. Jobs
//! take no savepoints (see [`SqliteTx`]); SQLite has one writer, so jobs never conflict.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use natsapi_core::Clock;
use rusqlite::Connection;

use super::tx::{SqliteTx, run_statement};
use crate::delivery::{Delivery, Settled};
use crate::error::{Cause, cause};
use crate::group::{self, GroupConnection, Ran, rolled_back};
use crate::job::BoxJob;

/// Runs until every sender is gone.
pub fn write_loop(
    conn: Connection,
    jobs: Receiver<BoxJob>,
    delivery: Delivery,
    clock: Arc<dyn Clock>,
    max_batch: usize,
) {
    while let Ok(first) = jobs.recv() {
        if let Some(group) = run_group(&conn, first, &jobs, clock.as_ref(), max_batch) {
            delivery.release(group);
        }
    }
    tracing::debug!("sqlite writer stopped");
}

/// The writer's connection, driven by the group runner.
pub(super) struct Writer<'c>(pub(super) &'c Connection);

impl GroupConnection for Writer<'_> {
    fn begin(&mut self) -> Result<(), Cause> {
        if !self.0.is_autocommit() {
            // A transaction was left open by a failure that could not roll back: end it first.
            let _ = self.0.execute_batch("ROLLBACK");
        }
        run_statement(self.0, "BEGIN IMMEDIATE").map_err(cause)
    }

    fn commit(&mut self) -> Result<(), Cause> {
        run_statement(self.0, "COMMIT").map_err(cause)
    }

    fn rollback(&mut self) -> Result<(), Cause> {
        if self.0.is_autocommit() {
            return Ok(());
        }
        run_statement(self.0, "ROLLBACK").map_err(cause)
    }

    fn run(&mut self, job: &mut BoxJob, now: i64) -> Ran {
        let mut tx = SqliteTx::writer(self.0);
        let failed = job.run(&mut tx, now);
        if self.0.is_autocommit() {
            Ran::Aborted(rolled_back("the store transaction was rolled back (I/O error?)"))
        } else if !failed {
            Ran::Kept
        } else if tx.wrote() {
            Ran::FailedDirty
        } else {
            Ran::FailedClean
        }
    }
}

/// One transaction: `first` and whatever queues up meanwhile, then one commit (see
/// [`group::run_group`]).
pub(super) fn run_group(
    conn: &Connection,
    first: BoxJob,
    jobs: &Receiver<BoxJob>,
    clock: &dyn Clock,
    max_batch: usize,
) -> Option<Settled> {
    group::run_group(&mut Writer(conn), first, || jobs.try_recv().ok(), clock, max_batch)
}
