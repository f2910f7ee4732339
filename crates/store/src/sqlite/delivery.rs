//! Handing a committed group's replies back to the async side.
//!
//! Releasing each reply from the writer thread would wake the runtime once per reply, and the
//! replies would trickle out one NATS write at a time while the runtime races the writer. Instead
//! the writer hands the whole group to one task on the runtime that opened the store: one
//! cross-thread wake-up per commit, after which the waiting requests run back to back and their
//! replies leave together.

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::error::StoreError;
use crate::job::BoxJob;

/// A committed (or failed) group: its jobs and the transaction's outcome.
pub struct Released {
    jobs: Vec<BoxJob>,
    outcome: Result<(), String>,
}

impl Released {
    /// A group and the outcome of its transaction (`Err` holds why it did not commit).
    pub fn new(jobs: Vec<BoxJob>, outcome: Result<(), String>) -> Self {
        Released { jobs, outcome }
    }

    fn release(self) {
        for job in self.jobs {
            job.deliver(self.outcome.clone().map_err(StoreError::Commit));
        }
    }
}

/// Where the writer sends finished groups.
pub enum Delivery {
    /// To a task on a Tokio runtime.
    Runtime(UnboundedSender<Released>),
    /// On the writer thread itself (no runtime was running when the store opened).
    Direct,
}

impl Delivery {
    /// Spawns the releasing task on the current Tokio runtime, when there is one.
    pub fn start() -> Self {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Delivery::Direct;
        };
        let (sender, mut groups) = unbounded_channel::<Released>();
        runtime.spawn(async move {
            while let Some(group) = groups.recv().await {
                group.release();
            }
        });
        Delivery::Runtime(sender)
    }

    /// Releases a group's replies. When the runtime's task is gone (the runtime shut down), they
    /// are released here instead, so no caller is left waiting.
    pub fn release(&self, group: Released) {
        match self {
            Delivery::Runtime(sender) => {
                if let Err(returned) = sender.send(group) {
                    returned.0.release();
                }
            }
            Delivery::Direct => group.release(),
        }
    }
}
