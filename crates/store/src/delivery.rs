//! Handing a committed group's replies back to the async side.
//!
//! Releasing each reply from the writer thread would wake the runtime once per reply, and the
//! replies would trickle out one NATS write at a time while the runtime races the writer. Instead
//! the writer hands the whole group to one task on the runtime that opened the store: one
//! cross-thread wake-up per commit, after which the waiting requests run back to back and their
//! replies leave together.

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::error::{Cause, StoreError};
use crate::job::BoxJob;

/// A finished group: its jobs and whether its transaction committed (`Err` holds why not).
pub struct Settled {
    jobs: Vec<BoxJob>,
    outcome: Result<(), Cause>,
}

impl Settled {
    /// A group and the outcome of its transaction.
    pub fn new(jobs: Vec<BoxJob>, outcome: Result<(), Cause>) -> Self {
        Settled { jobs, outcome }
    }

    fn release(self) {
        for job in self.jobs {
            job.deliver(self.outcome.clone().map_err(StoreError::Commit));
        }
    }
}

/// Where the writer sends settled groups.
#[derive(Clone)]
pub enum Delivery {
    /// To a task on a Tokio runtime.
    Runtime(UnboundedSender<Settled>),
    /// On the writer thread itself (no runtime was running when the store opened).
    Direct,
}

/// The runtime task's end of the channel. When the task is dropped without finishing (its
/// runtime shut down), the groups still queued are released on the spot, so no caller is left
/// waiting for a write that committed.
struct Releaser(UnboundedReceiver<Settled>);

impl Drop for Releaser {
    fn drop(&mut self) {
        self.0.close();
        while let Ok(group) = self.0.try_recv() {
            group.release();
        }
    }
}

impl Delivery {
    /// Spawns the releasing task on the current Tokio runtime, when there is one.
    pub fn start() -> Self {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Delivery::Direct;
        };
        let (sender, groups) = unbounded_channel::<Settled>();
        let mut releaser = Releaser(groups);
        runtime.spawn(async move {
            while let Some(group) = releaser.0.recv().await {
                group.release();
            }
        });
        Delivery::Runtime(sender)
    }

    /// Releases a group's replies. When the runtime's task is gone, they are released here
    /// instead.
    pub fn release(&self, group: Settled) {
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
