//! The writer thread: one connection, group commit.
//!
//! The thread takes a job, opens `BEGIN IMMEDIATE`, and keeps running every job that arrives
//! while it works (up to `max_batch`) before it commits once and releases all their replies. Under
//! load the group grows by itself, so throughput is not bound by one commit (and one fsync) per
//! request; when idle, a lone job is committed at once, adding no latency.
//!
//! Jobs take no savepoints (see [`SqliteTx`]). When one fails after writing, the group's
//! transaction is rolled back and the jobs that ran before it are run again in a new one, so a
//! failed operation leaves nothing behind and does not fail its neighbours.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use natsapi_core::Clock;
use rusqlite::Connection;

use super::delivery::{Delivery, Settled};
use super::tx::{SqliteTx, run_statement};
use crate::error::StoreError;
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

/// The jobs of one group: those whose writes stand, with the time they ran at, and those that
/// failed (nothing of theirs stays).
#[derive(Default)]
struct Group {
    kept: Vec<(BoxJob, i64)>,
    failed: Vec<BoxJob>,
}

impl Group {
    fn into_jobs(self) -> Vec<BoxJob> {
        self.kept.into_iter().map(|(job, _)| job).chain(self.failed).collect()
    }
}

/// How running one job went.
enum Ran {
    /// Its writes stand.
    Kept,
    /// It failed without writing: nothing to undo.
    FailedClean,
    /// It failed after writing: only a rollback of the transaction removes its writes.
    FailedDirty,
    /// SQLite rolled the whole transaction back by itself (I/O error, disk full).
    Aborted,
}

fn run_one(conn: &Connection, job: &mut BoxJob, now: i64) -> Ran {
    let mut tx = SqliteTx::writer(conn);
    let failed = job.run(&mut tx, now);
    if conn.is_autocommit() {
        Ran::Aborted
    } else if !failed {
        Ran::Kept
    } else if tx.wrote() {
        Ran::FailedDirty
    } else {
        Ran::FailedClean
    }
}

/// One transaction: `first` and whatever queues up meanwhile, then one commit. Returns the
/// group's jobs with the transaction's outcome, or nothing when no transaction could begin (the
/// job has then been told why).
pub(super) fn run_group(
    conn: &Connection,
    first: BoxJob,
    jobs: &Receiver<BoxJob>,
    clock: &dyn Clock,
    max_batch: usize,
) -> Option<Settled> {
    if !conn.is_autocommit() {
        // A transaction was left open by a failure that could not roll back: end it first.
        let _ = conn.execute_batch("ROLLBACK");
    }
    if let Err(e) = run_statement(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin a store transaction");
        // The job did not run: its caller learns why.
        first.deliver(Err(StoreError::Begin(e.to_string())));
        return None;
    }
    let mut group = Group::default();
    let mut broken = None;
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(mut job) = next {
        taken += 1;
        let now = clock.now_ms();
        match run_one(conn, &mut job, now) {
            Ran::Kept => group.kept.push((job, now)),
            Ran::FailedClean => group.failed.push(job),
            Ran::FailedDirty => {
                group.failed.push(job);
                if let Err(e) = replay(conn, &mut group) {
                    broken = Some(e);
                }
            }
            Ran::Aborted => {
                // What ran before is gone, and nothing may run outside a transaction.
                group.failed.push(job);
                broken = Some("the store transaction was rolled back (I/O error?)".to_owned());
            }
        }
        next = if broken.is_none() && taken < max_batch { jobs.try_recv().ok() } else { None };
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
    Some(Settled::new(group.into_jobs(), committed))
}

/// Rolls the transaction back and runs the kept jobs again in a new one, each at the time it
/// first ran; a job that now fails moves to the failed ones (and, if it wrote, starts the replay
/// over without it).
fn replay(conn: &Connection, group: &mut Group) -> Result<(), String> {
    'restart: loop {
        run_statement(conn, "ROLLBACK").map_err(|e| format!("cannot roll back: {e}"))?;
        run_statement(conn, "BEGIN IMMEDIATE")
            .map_err(|e| format!("cannot begin a transaction: {e}"))?;
        let mut i = 0;
        while i < group.kept.len() {
            let (job, now) = &mut group.kept[i];
            match run_one(conn, job, *now) {
                Ran::Kept => i += 1,
                Ran::FailedClean => group.failed.push(group.kept.remove(i).0),
                Ran::FailedDirty => {
                    group.failed.push(group.kept.remove(i).0);
                    continue 'restart;
                }
                Ran::Aborted => {
                    return Err("the store transaction was rolled back (I/O error?)".to_owned());
                }
            }
        }
        return Ok(());
    }
}
