//! Background timers. Each kind of background work (promise timeouts, and the others next to it)
//! runs in a loop that sleeps until its earliest deadline, or until a new, earlier deadline is
//! announced, then works through everything due in batches, so a deadline is acted on promptly
//! instead of on a once-a-second sweep.

mod locks;
mod promises;
mod schedules;
mod tasks;

use std::sync::atomic::{AtomicI64, Ordering};

use futures::future::BoxFuture;
use natsapi_core::Clock;
use tokio::sync::{Notify, watch};

use crate::api::{Api, ApiError};

pub use locks::{EXPIRE_BATCH as LOCK_EXPIRE_BATCH, LockExpiry};
pub use promises::{PromiseTimeouts, TIMEOUT_BATCH as PROMISE_TIMEOUT_BATCH};
pub use schedules::{FIRE_BATCH as SCHEDULE_FIRE_BATCH, ScheduleFiring};
pub use tasks::TaskWork;

/// Back-off after a store failure, in ms.
const RETRY_AFTER_FAILURE_MS: i64 = 1_000;

/// Longest sleep, in ms. Deadlines this process creates wake a timer at once; this bound covers
/// deadlines written by another process sharing the store, which are then acted on within it.
/// The check reads without the write lock, so it costs little.
const MAX_SLEEP_MS: i64 = 100;

/// The kinds of background work, each with its own timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Pending promises past their deadline.
    PromiseTimeouts,
    /// Tasks to deliver, and delivered or claimed tasks whose window ended.
    Tasks,
    /// Schedules whose next tick has come.
    ScheduleFiring,
    /// Locks past their expiry.
    LockExpiry,
}

impl Timer {
    /// Every timer.
    pub const ALL: [Timer; 4] =
        [Timer::PromiseTimeouts, Timer::Tasks, Timer::ScheduleFiring, Timer::LockExpiry];
}

/// The moment a timer will next wake, and the way to wake it earlier.
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

/// What one round of background work did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// It stopped at its batch size: more is due, so the next round starts at once.
    pub more: bool,
    /// The earliest deadline still ahead, if any.
    pub next_deadline: Option<i64>,
}

/// One kind of background work.
pub trait Sweep: Send + Sync + 'static {
    /// Which timer runs it (and which deadlines wake it).
    fn timer(&self) -> Timer;

    /// Does one batch of the work that is due, through the API's store.
    fn sweep<'a>(&'a self, api: &'a Api) -> BoxFuture<'a, Result<Swept, ApiError>>;
}

/// Runs `work` whenever it is due until `shutdown` turns true.
pub async fn run(api: Api, work: impl Sweep, mut shutdown: watch::Receiver<bool>) {
    let deadlines = api.deadlines(work.timer()).clone();
    let time = api.time().clone();
    loop {
        // While the batch runs, any announced deadline leaves a wake-up permit behind, so one
        // created after the batch read the next deadline is not missed.
        deadlines.plan(i64::MAX);
        let next = match work.sweep(&api).await {
            Ok(Swept { more: true, .. }) => continue,
            Ok(Swept { more: false, next_deadline }) => next_deadline.unwrap_or(i64::MAX),
            Err(e) => {
                tracing::warn!(timer = ?work.timer(), error = %e, "background work failed; retrying");
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
