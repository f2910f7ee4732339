//! Pruning the gateway's own rows. Once a worker has recorded a message in the data file, the
//! status endpoint answers from that row and never reads the gateway's `accepted` row for it
//! again; a sweep deletes such rows, so the gateway's file holds the messages no worker has seen
//! yet instead of every message it ever took.

use std::sync::Weak;
use std::time::Duration;

use super::Shared;
use crate::db::messages;
use crate::error::IngestError;

/// Rows looked at per step of a sweep.
const PAGE: usize = 2_000;

/// Deletes the gateway's rows of the messages the worker's data file records, a page at a time
/// in id order; answers how many went.
pub(super) async fn sweep(shared: &Shared) -> Result<usize, IngestError> {
    let mut after = None;
    let mut deleted = 0;
    loop {
        let page = shared.db.read(move |conn| messages::accepted_ids(conn, after, PAGE)).await?;
        let (Some(&last), full) = (page.last(), page.len() == PAGE) else { break };
        // No data file or no schema yet: no worker has recorded anything.
        let Some(recorded) = shared.data.read(move |conn| messages::recorded(conn, &page)).await?
        else {
            break;
        };
        if !recorded.is_empty() {
            deleted +=
                shared.db.write(move |conn| messages::forget_accepted(conn, &recorded)).await?;
        }
        if !full {
            break;
        }
        after = Some(last);
    }
    Ok(deleted)
}

/// Sweeps every `every` for as long as the gateway exists.
pub(super) fn start(shared: Weak<Shared>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: a restarted gateway tidies what it left.
        loop {
            ticks.tick().await;
            let Some(shared) = Weak::upgrade(&shared) else { return };
            match sweep(&shared).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "pruned the gateway's accepted rows"),
                Err(e) => tracing::warn!(error = %e, "cannot prune the gateway's accepted rows"),
            }
        }
    });
}
