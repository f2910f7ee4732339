//! The reader threads: each owns a read-only connection and takes its fair share of the waiting
//! read attempts (`crate::jobs`), runs them in one read transaction, then hands their answers
//! back to the runtime in one wake-up, as the writer does with a committed group.
//!
//! One transaction per batch rather than per read: opening a read transaction on a WAL database
//! takes and drops file locks (`fcntl` calls) on the database and its shared-memory index, a large
//! share of the work of a point read. The batch is taken before the transaction begins, so its
//! snapshot is never older than any of its requests: each read sees every write committed before
//! it was submitted. A connection that cannot be opened, or a transaction that cannot begin, hands
//! the batch back unrun and its operations go to the writer; the connection is opened again for
//! the next batch.

use natsapi_core::Clock;
use rusqlite::Connection;

use super::SqliteConfig;
use super::connection;
use super::tx::{SqliteTx, run_statement};
use crate::delivery::Delivery;
use crate::job::BoxJob;
use crate::jobs::{self, JobQueue};

/// One reader thread's state.
pub(super) struct Reader {
    conn: Option<Connection>,
    config: SqliteConfig,
}

impl Reader {
    /// A reader on `conn`, which it opens again from `config` when it breaks.
    pub(super) fn new(conn: Connection, config: SqliteConfig) -> Self {
        Reader { conn: Some(conn), config }
    }

    /// Runs until every sender of `jobs` is gone.
    pub(super) fn read_loop(
        mut self,
        jobs: &JobQueue,
        delivery: &Delivery,
        clock: &dyn Clock,
        max_batch: usize,
    ) {
        jobs::serve_reads(jobs, delivery, max_batch, |batch| self.run_batch(batch, clock));
        tracing::debug!("sqlite reader stopped");
    }

    /// Runs every job of `batch` in one read transaction; none of them when there is no
    /// connection or the transaction cannot begin.
    pub(super) fn run_batch(&mut self, batch: &mut [BoxJob], clock: &dyn Clock) {
        let Some(conn) = self.connection() else { return };
        if let Err(e) = run_statement(conn, "BEGIN") {
            tracing::warn!(error = %e, "cannot begin a read transaction; reading on the writer");
            self.conn = None;
            return;
        }
        let now = clock.now_ms();
        for job in batch.iter_mut() {
            job.run(&mut SqliteTx::reader(conn), now);
        }
        // The answers stand whatever the end of a transaction that wrote nothing says; a
        // connection that cannot end one is opened afresh for the next batch.
        if let Err(e) = run_statement(conn, "COMMIT") {
            tracing::warn!(error = %e, "cannot end a read transaction");
            if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
                self.conn = None;
            }
        }
    }

    /// The connection, opened again if it was lost; `None` while it cannot be.
    fn connection(&mut self) -> Option<&mut Connection> {
        if self.conn.is_none() {
            match connection::open_reader(&self.config) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    tracing::warn!(error = %e, "no read connection; reading on the writer");
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use natsapi_core::{ManualClock, Tx};

    use super::*;
    use crate::job::Job;

    /// Counts its runs.
    struct Counted(Arc<AtomicUsize>);

    impl Job for Counted {
        fn run(&mut self, tx: &mut dyn Tx, _now: i64) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            tx.promise("p").is_err()
        }

        fn deliver(self: Box<Self>, _committed: Result<(), crate::StoreError>) {}
    }

    #[test]
    fn a_reader_that_cannot_open_its_connection_hands_its_batch_back_unrun() {
        let dir = tempfile::TempDir::new().unwrap();
        let config = SqliteConfig { path: dir.path().join("t.db"), ..SqliteConfig::default() };
        let runs = Arc::new(AtomicUsize::new(0));
        let batch =
            || -> Vec<BoxJob> { (0..3).map(|_| Box::new(Counted(runs.clone())) as _).collect() };
        let clock = ManualClock::new(0);
        // No database yet: a read-only connection cannot open it.
        let mut reader = Reader { conn: None, config: config.clone() };
        reader.run_batch(&mut batch(), &clock);
        assert_eq!(runs.load(Ordering::Relaxed), 0);
        // Once there is one, the next batch opens its connection and runs.
        drop(connection::open_writer(&config).unwrap());
        reader.run_batch(&mut batch(), &clock);
        assert_eq!(runs.load(Ordering::Relaxed), 3);
    }
}
