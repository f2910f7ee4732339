//! Pruning the gateway's own rows. Once a worker has recorded a message in the data file, the
//! status endpoint answers from that row and never reads the gateway's `accepted` row for it
//! again; a sweep deletes such rows, so the gateway's file holds the messages no worker has seen
//! yet instead of every message it ever took.

use std::sync::Weak;
use std::time::Duration;

use uuid::Uuid;

use super::Shared;
use crate::db::messages;
use crate::error::IngestError;

/// Rows looked at per step of a sweep.
const PAGE: usize = 2_000;
/// Steps the background task takes per tick: while workers are down or behind, the gateway's
/// rows pile up, and a tick should not read them all at once.
const PAGES_PER_TICK: usize = 50;

/// Where a sweep stopped.
struct Swept {
    /// Rows deleted.
    deleted: usize,
    /// The last id looked at when the sweep stopped before the end; `None` at the end.
    resume_after: Option<Uuid>,
}

/// Deletes the gateway's rows of the messages the worker's data file records, a page at a time
/// in id order, after `after`, for at most `pages` pages.
async fn sweep(
    shared: &Shared,
    mut after: Option<Uuid>,
    pages: usize,
) -> Result<Swept, IngestError> {
    let mut deleted = 0;
    let at_end = |deleted| Ok(Swept { deleted, resume_after: None });
    for _ in 0..pages {
        let page = shared.db.read(move |conn| messages::accepted_ids(conn, after, PAGE)).await?;
        let (Some(&last), full) = (page.last(), page.len() == PAGE) else { return at_end(deleted) };
        // No data file or no schema yet: no worker has recorded anything.
        let Some(recorded) = shared.data.read(move |conn| messages::recorded(conn, &page)).await?
        else {
            return at_end(deleted);
        };
        if !recorded.is_empty() {
            deleted +=
                shared.db.write(move |conn| messages::forget_accepted(conn, &recorded)).await?;
        }
        if !full {
            return at_end(deleted);
        }
        after = Some(last);
    }
    Ok(Swept { deleted, resume_after: after })
}

/// Sweeps the whole file; answers how many rows went.
pub(super) async fn sweep_all(shared: &Shared) -> Result<usize, IngestError> {
    Ok(sweep(shared, None, usize::MAX).await?.deleted)
}

/// Sweeps every `every`, [`PAGES_PER_TICK`] pages at a time (the next tick goes on where the last
/// stopped), for as long as the gateway exists.
pub(super) fn start(shared: Weak<Shared>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut after = None;
        // The first tick is immediate: a restarted gateway tidies what it left.
        loop {
            ticks.tick().await;
            let Some(shared) = Weak::upgrade(&shared) else { return };
            match sweep(&shared, after, PAGES_PER_TICK).await {
                Ok(swept) => {
                    after = swept.resume_after;
                    if swept.deleted > 0 {
                        tracing::debug!(deleted = swept.deleted, "pruned the gateway's rows");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot prune the gateway's accepted rows"),
            }
        }
    });
}
