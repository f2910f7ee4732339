//! The reader threads: each owns a connection and takes its fair share of the waiting read
//! attempts (`crate::jobs`), runs them one statement at a time in autocommit (each sees the
//! last committed state), then hands their answers back to the runtime in one wake-up, as the
//! writers do with a committed group. The promises a batch's reads look up by id are fetched in
//! one statement first (the state committed when the batch started, which is after each of its
//! requests arrived). A lost connection is opened again for the next batch; while
//! it cannot be, the attempts are handed back unrun and their operations go to the writers.

use natsapi_core::Clock;

use super::connection::{PgConn, Settings};
use super::tx::{Fetched, PgTx, fetch_promises};
use crate::delivery::Delivery;
use crate::job::BoxJob;
use crate::jobs::{self, JobQueue};

/// The promises the batch's reads look up first, in one statement instead of one each; `None`
/// when fewer than two do, or the statement failed (each read then asks for its own).
fn fetch_ahead(conn: &mut PgConn, batch: &[BoxJob]) -> Option<Fetched> {
    let ids: Vec<&str> = batch.iter().filter_map(|job| job.first_promise()).collect();
    if ids.len() < 2 {
        return None;
    }
    fetch_promises(conn, &ids)
        .inspect_err(|e| tracing::warn!(error = %e, "cannot fetch promises ahead"))
        .ok()
}

/// One reader thread's state.
pub(super) struct Reader {
    conn: Option<PgConn>,
    settings: Settings,
}

impl Reader {
    /// A reader on `conn`, which it opens again with `settings` when it breaks.
    pub(super) fn new(conn: PgConn, settings: Settings) -> Self {
        Reader { conn: Some(conn), settings }
    }

    /// Runs until every sender of `jobs` is gone.
    pub(super) fn read_loop(
        mut self,
        jobs: &JobQueue,
        delivery: &Delivery,
        clock: &dyn Clock,
        max_batch: usize,
    ) {
        jobs::serve_reads(jobs, delivery, max_batch, |batch| {
            if let Some(conn) = self.connection() {
                let now = clock.now_ms();
                let fetched = fetch_ahead(conn, batch);
                for job in batch.iter_mut() {
                    job.run(&mut PgTx::reader(conn, fetched.as_ref()), now);
                }
            }
        });
        tracing::debug!("postgres reader stopped");
    }

    /// The connection, opened again if it was lost; `None` while it cannot be.
    fn connection(&mut self) -> Option<&mut PgConn> {
        self.settings
            .reopen(&mut self.conn)
            .inspect_err(
                |e| tracing::warn!(error = %e, "no read connection; reading on the writers"),
            )
            .ok()
    }
}
