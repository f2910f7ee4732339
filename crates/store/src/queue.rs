//! The bound on the writer's work: at most `max_queued` jobs between their submission and their
//! reply (waiting for the writer, in its transaction, or waiting for their reply to be handed
//! back). A job beyond that is refused at once with [`StoreError::Overloaded`], which the
//! transports answer with 503 (HTTP adds `Retry-After`), so a writer that falls behind (a slow
//! disk, another process holding the write lock) pushes back instead of queueing without end.

use std::sync::Arc;

use natsapi_core::Tx;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::StoreError;
use crate::job::{BoxJob, Job};

/// The places for jobs; cheap to clone.
#[derive(Clone)]
pub(crate) struct Places {
    free: Arc<Semaphore>,
    max: usize,
}

impl Places {
    /// Room for `max` jobs (at least 1).
    pub(crate) fn new(max: usize) -> Self {
        let max = max.max(1);
        Places { free: Arc::new(Semaphore::new(max)), max }
    }

    /// `job`, holding a place until its reply is delivered; `None` when every place is taken
    /// (the job's caller has then been told the store is overloaded).
    pub(crate) fn admit(&self, job: BoxJob) -> Option<BoxJob> {
        match Arc::clone(&self.free).try_acquire_owned() {
            Ok(place) => Some(Box::new(Placed { job, place })),
            Err(_) => {
                job.deliver(Err(StoreError::Overloaded { queued: self.max }));
                None
            }
        }
    }
}

/// A job and the place it holds.
struct Placed {
    job: BoxJob,
    place: OwnedSemaphorePermit,
}

impl Job for Placed {
    fn run(&mut self, tx: &mut dyn Tx, now: i64) -> bool {
        self.job.run(tx, now)
    }

    fn fail(&mut self, error: StoreError) {
        self.job.fail(error);
    }

    fn first_promise(&self) -> Option<&str> {
        self.job.first_promise()
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        let Placed { job, place } = *self;
        // Free first: a caller that got its reply may submit again at once.
        drop(place);
        job.deliver(committed);
    }
}
