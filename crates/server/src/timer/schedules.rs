//! Schedule firing: every due schedule tick creates its promise, and the schedule moves on.

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::Code;
use natsapi_core::schedules::FireSchedules;

use super::{Sweep, Swept, Timer};
use crate::api::{Api, ApiError};

/// Schedule ticks fired per transaction.
pub const FIRE_BATCH: usize = 100;

/// Fires due schedules. A schedule that missed several ticks fires one per round; the next
/// round starts at once while any tick is still due.
pub struct ScheduleFiring;

impl Sweep for ScheduleFiring {
    fn timer(&self) -> Timer {
        Timer::ScheduleFiring
    }

    fn sweep<'a>(&'a self, api: &'a Api) -> BoxFuture<'a, Result<Swept, ApiError>> {
        async move {
            let done = api.run(FireSchedules { limit: FIRE_BATCH }).await?;
            let report = done.value;
            for firing in &report.fired {
                match &firing.promise {
                    Ok(created) => {
                        api.announce(Timer::PromiseTimeouts, created.value.timeout);
                        if created.value.tags.contains_key(natsapi_core::task::INVOKE_TAG) {
                            api.announce(Timer::Tasks, 0);
                        }
                    }
                    Err(e) if e.code == Code::PromiseAlreadyExists => tracing::debug!(
                        schedule = %firing.schedule_id,
                        promise = %firing.promise_id,
                        "scheduled promise already exists; the schedule moved on"
                    ),
                    Err(e) => tracing::warn!(
                        schedule = %firing.schedule_id,
                        promise = %firing.promise_id,
                        error = %e,
                        "scheduled promise refused; the schedule moved on"
                    ),
                }
            }
            if !report.fired.is_empty() {
                tracing::debug!(count = report.fired.len(), "schedule ticks fired");
            }
            Ok(Swept { more: report.fired.len() == FIRE_BATCH, next_deadline: report.next_run })
        }
        .boxed()
    }
}
