//! Time for the server: the wall clock, or a manual clock tests advance by hand. Besides reading
//! the time, timers can sleep until a moment of that clock.

use std::sync::Arc;
use std::time::Duration;

use natsapi_core::{Clock, ManualClock, SystemClock};
use tokio::sync::watch;

/// A cloneable source of time that timers can wait on.
#[derive(Clone)]
pub struct Time(Arc<Source>);

enum Source {
    System(SystemClock),
    Manual { clock: ManualClock, moved: watch::Sender<i64> },
}

impl std::fmt::Debug for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System(_) => f.write_str("Time::System"),
            Source::Manual { clock, .. } => write!(f, "Time::Manual({})", clock.now_ms()),
        }
    }
}

impl Time {
    /// The wall clock.
    pub fn system() -> Self {
        Time(Arc::new(Source::System(SystemClock)))
    }

    /// A manual clock starting at `start_ms`; only [`Time::advance`] and [`Time::set`] move it.
    pub fn manual(start_ms: i64) -> Self {
        let (moved, _) = watch::channel(start_ms);
        Time(Arc::new(Source::Manual { clock: ManualClock::new(start_ms), moved }))
    }

    /// Moves a manual clock forward by `ms` and wakes the timers; no effect on the wall clock.
    pub fn advance(&self, ms: i64) {
        if let Source::Manual { clock, moved } = &*self.0 {
            moved.send_replace(clock.advance(ms));
        }
    }

    /// Sets a manual clock to `ms` and wakes the timers; no effect on the wall clock.
    pub fn set(&self, ms: i64) {
        if let Source::Manual { clock, moved } = &*self.0 {
            clock.set(ms);
            moved.send_replace(ms);
        }
    }

    /// This time source as a core clock, for the store.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.clone())
    }

    /// Waits until the clock reads at least `deadline_ms`.
    pub async fn sleep_until(&self, deadline_ms: i64) {
        match &*self.0 {
            Source::System(clock) => {
                let wait = deadline_ms.saturating_sub(clock.now_ms());
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                }
            }
            Source::Manual { clock, moved } => {
                let mut changes = moved.subscribe();
                while clock.now_ms() < deadline_ms {
                    if changes.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

impl Clock for Time {
    fn now_ms(&self) -> i64 {
        match &*self.0 {
            Source::System(clock) => clock.now_ms(),
            Source::Manual { clock, .. } => clock.now_ms(),
        }
    }
}
