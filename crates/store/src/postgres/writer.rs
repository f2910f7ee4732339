//! A writer thread: one connection, group commit ([`crate::group`]). The store runs several side
//! by side on one queue (`crate::jobs`), so groups overlap instead of queueing behind one
//! connection's round trips. A lost connection is opened again at the next group.

use natsapi_core::{Clock, TxError};
use postgres::error::SqlState;

use super::connection::{PgConn, Settings};
use super::deadlocks::Watch;
use super::tx::{Outcome, PgTx};
use crate::delivery::Delivery;
use crate::error::{Cause, StoreError, cause};
use crate::group::{self, GroupConnection, Ran, rolled_back};
use crate::job::BoxJob;
use crate::jobs::JobQueue;

/// A writer's connection, driven by the group runner.
pub(super) struct Writer {
    conn: Option<PgConn>,
    settings: Settings,
    /// Whether a transaction may be open on the connection.
    open: bool,
    /// What the deadlock watchdog sees of the connection's statements.
    watch: std::sync::Arc<Watch>,
}

impl Writer {
    /// A writer on `conn`, which it opens again with `settings` when it breaks, its statements
    /// watched through `watch`.
    pub(super) fn new(conn: PgConn, settings: Settings, watch: std::sync::Arc<Watch>) -> Self {
        Writer { conn: Some(conn), settings, open: false, watch }
    }

    /// Runs until every sender of `jobs` is gone.
    pub(super) fn write_loop(
        mut self,
        jobs: &JobQueue,
        delivery: &Delivery,
        clock: &dyn Clock,
        max_batch: usize,
    ) {
        while let Some((first, mut waiting)) = jobs.take_group(max_batch) {
            let mut next = Some(first);
            // A group that breaks (or cannot begin) stops taking jobs: the rest of this writer's
            // share runs in the groups after it, never dropped.
            while let Some(first) = next.take() {
                if let Some(group) =
                    group::run_group(&mut self, first, || waiting.pop_front(), clock, max_batch)
                {
                    delivery.release(group);
                }
                next = waiting.pop_front();
            }
        }
        tracing::debug!("postgres writer stopped");
    }
}

/// The connection in `slot`, opened again with `settings` if it was lost, and watched.
fn connection<'c>(
    settings: &Settings,
    slot: &'c mut Option<PgConn>,
    watch: &std::sync::Arc<Watch>,
) -> Result<&'c mut PgConn, Cause> {
    let conn = settings.reopen(slot).map_err(cause)?;
    conn.watch_with(watch).map_err(cause)?;
    Ok(conn)
}

impl GroupConnection for Writer {
    fn begin(&mut self) -> Result<(), Cause> {
        // A failure may have left a transaction open: end it first.
        self.rollback()?;
        let conn = connection(&self.settings, &mut self.conn, &self.watch)?;
        let begun = match conn.client().batch_execute("BEGIN") {
            // A deadlock watchdog's cancel that came late (see `super::deadlocks`).
            Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => {
                conn.client().batch_execute("BEGIN")
            }
            begun => begun,
        };
        begun.map_err(cause)?;
        self.open = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), Cause> {
        // Whatever COMMIT answers, the transaction is over.
        self.open = false;
        let conn = connection(&self.settings, &mut self.conn, &self.watch)?;
        conn.client().batch_execute("COMMIT").map_err(cause)
    }

    fn rollback(&mut self) -> Result<(), Cause> {
        if !std::mem::take(&mut self.open) {
            return Ok(());
        }
        match self.conn.as_mut() {
            Some(conn) if !conn.is_closed() => {
                conn.client().batch_execute("ROLLBACK").map_err(cause)
            }
            // The server ended the transaction with the connection.
            _ => Ok(()),
        }
    }

    fn run(&mut self, job: &mut BoxJob, now: i64) -> Ran {
        let conn = match connection(&self.settings, &mut self.conn, &self.watch) {
            Ok(conn) => conn,
            Err(e) => return Ran::Aborted(e),
        };
        let mut tx = PgTx::writer(conn);
        let failed = job.run(&mut tx, now);
        let outcome = tx.outcome();
        if conn.is_closed() {
            return Ran::Aborted(rolled_back("the connection to PostgreSQL was lost"));
        }
        if !failed && matches!(outcome, Outcome::Errored) {
            // The operation went on after a failed statement: PostgreSQL has aborted the
            // transaction, so its writes are gone whatever it answered.
            job.fail(StoreError::Tx(TxError::msg(
                "a statement failed and the operation went on; its writes were rolled back",
            )));
        }
        match outcome {
            Outcome::Conflict => Ran::Conflict,
            Outcome::Errored => Ran::FailedDirty,
            Outcome::Wrote if failed => Ran::FailedDirty,
            Outcome::Clean if failed => Ran::FailedClean,
            Outcome::Wrote | Outcome::Clean => Ran::Kept,
        }
    }
}
