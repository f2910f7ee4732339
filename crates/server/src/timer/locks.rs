//! Lock expiry: locks past their `expiresAt` are deleted. (They stop blocking other executions
//! as soon as they expire; the sweep only clears them away.)

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::locks::ExpireLocks;

use super::{Sweep, Swept, Timer};
use crate::api::{Api, ApiError};

/// Locks deleted per transaction.
pub const EXPIRE_BATCH: usize = 500;

/// Deletes expired locks.
pub struct LockExpiry;

impl Sweep for LockExpiry {
    fn timer(&self) -> Timer {
        Timer::LockExpiry
    }

    fn sweep<'a>(&'a self, api: &'a Api) -> BoxFuture<'a, Result<Swept, ApiError>> {
        async move {
            let done = api.run(ExpireLocks { limit: EXPIRE_BATCH }).await?;
            let count = done.value.expired.len();
            if count > 0 {
                tracing::debug!(count, "expired locks deleted");
            }
            Ok(Swept { more: count == EXPIRE_BATCH, next_deadline: done.value.next_expiry })
        }
        .boxed()
    }
}
