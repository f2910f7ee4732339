//! Promise timeouts: pending promises past their deadline are completed by timeout.

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::promises::TimeoutPromises;

use super::{Sweep, Swept, Timer};
use crate::api::{Api, ApiError};

/// Promises timed out per transaction.
pub const TIMEOUT_BATCH: usize = 500;

/// Times out due promises.
pub struct PromiseTimeouts;

impl Sweep for PromiseTimeouts {
    fn timer(&self) -> Timer {
        Timer::PromiseTimeouts
    }

    fn sweep<'a>(&'a self, api: &'a Api) -> BoxFuture<'a, Result<Swept, ApiError>> {
        async move {
            let done = api.run(TimeoutPromises { limit: TIMEOUT_BATCH }).await?;
            let count = done.value.timed_out.len();
            if count > 0 {
                metrics::counter!(crate::metrics::PROMISES_TIMED_OUT).increment(count as u64);
                tracing::debug!(count, "promises timed out");
                // Their callbacks and subscriptions became tasks.
                api.announce(Timer::Tasks, 0);
            }
            Ok(Swept { more: count == TIMEOUT_BATCH, next_deadline: done.value.next_deadline })
        }
        .boxed()
    }
}
