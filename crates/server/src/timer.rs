//! Background timers. The promise timer sleeps until the earliest pending deadline (or until a
//! new, earlier deadline is announced), then times out everything due in batches, so a deadline is
//! acted on promptly instead of on a once-a-second sweep.

use std::sync::atomic::{AtomicI64, Ordering};

use natsapi_core::Clock;
use natsapi_core::promises::TimeoutPromises;
use tokio::sync::{Notify, watch};

use crate::api::Api;

/// Promises timed out per transaction.
pub const TIMEOUT_BATCH: usize = 500;

/// Back-off after a store failure, in ms.
const RETRY_AFTER_FAILURE_MS: i64 = 1_000;

/// Longest sleep, in ms. Deadlines this process creates wake the timer at once; this bound covers
/// deadlines written by another process sharing the store, which are then acted on within it.
/// The check reads without the write lock, so it costs little.
const MAX_SLEEP_MS: i64 = 100;

/// The moment the timer will next wake, and the way to wake it earlier.
#[derive(Debug)]
pub struct Deadlines {
    next_wake: AtomicI64,
    wake: Notify,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines { next_wake: AtomicI64::new(i64::MAX), wake: Notify::new() }
    }
}

impl Deadlines {
    /// Announces a new deadline; wakes the timer if it is earlier than the planned wake-up.
    pub fn announce(&self, deadline_ms: i64) {
        if deadline_ms < self.next_wake.fetch_min(deadline_ms, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    fn plan(&self, wake_ms: i64) {
        self.next_wake.store(wake_ms, Ordering::Release);
    }
}

/// Runs the promise timeout timer until `shutdown` turns true.
pub async fn run_promise_timer(api: Api, mut shutdown: watch::Receiver<bool>) {
    let deadlines = api.deadlines().clone();
    let time = api.time().clone();
    loop {
        // While the batch runs, any announced deadline leaves a wake-up permit behind, so one
        // created after the batch read the next deadline is not missed.
        deadlines.plan(i64::MAX);
        let next = match api.run(TimeoutPromises { limit: TIMEOUT_BATCH }).await {
            Ok(done) => {
                let count = done.value.timed_out.len();
                if count > 0 {
                    metrics::counter!(crate::metrics::PROMISES_TIMED_OUT).increment(count as u64);
                    tracing::debug!(count, "promises timed out");
                }
                if count == TIMEOUT_BATCH {
                    continue;
                }
                done.value.next_deadline.unwrap_or(i64::MAX)
            }
            Err(e) => {
                tracing::warn!(error = %e, "promise timer failed; retrying");
                time.now_ms().saturating_add(RETRY_AFTER_FAILURE_MS)
            }
        };
        let next = next.min(time.now_ms().saturating_add(MAX_SLEEP_MS));
        deadlines.plan(next);
        tokio::select! {
            _ = time.sleep_until(next) => {}
            _ = deadlines.wake.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
