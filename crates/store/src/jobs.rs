//! A queue that several threads of a backend share: PostgreSQL's writers, or the readers of
//! either database backend. A thread that starts a group (a transaction's worth of jobs) takes its
//! fair share of the jobs waiting at that moment (those waiting, divided among itself and the
//! threads idle beside it), so under load the groups run side by side instead of one thread
//! taking everything while the others wait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};

use crate::job::BoxJob;

/// The sending side, for the store.
pub(crate) struct JobSender {
    sender: Sender<BoxJob>,
    queue: std::sync::Arc<JobQueue>,
}

/// The receiving side, shared by the threads that take the jobs.
pub(crate) struct JobQueue {
    receiver: Mutex<Receiver<BoxJob>>,
    /// Jobs sent and not taken yet.
    waiting: AtomicUsize,
    /// Threads between their groups (waiting for the receiver or for a job).
    idle: AtomicUsize,
}

/// A queue and its sender.
pub(crate) fn channel() -> (JobSender, std::sync::Arc<JobQueue>) {
    let (sender, receiver) = mpsc::channel();
    let queue = std::sync::Arc::new(JobQueue {
        receiver: Mutex::new(receiver),
        waiting: AtomicUsize::new(0),
        idle: AtomicUsize::new(0),
    });
    (JobSender { sender, queue: queue.clone() }, queue)
}

impl JobSender {
    /// Queues `job`; a job sent after the threads stopped is dropped (its caller sees "closed").
    pub(crate) fn send(&self, job: BoxJob) {
        self.queue.waiting.fetch_add(1, Ordering::AcqRel);
        if self.sender.send(job).is_err() {
            self.queue.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl JobQueue {
    /// The next job, waiting for it, and this thread's share of the jobs queued behind it (at
    /// most `max_batch` in all); `None` once every sender is gone.
    pub(crate) fn take_group(&self, max_batch: usize) -> Option<(BoxJob, VecDeque<BoxJob>)> {
        self.idle.fetch_add(1, Ordering::AcqRel);
        let receiver = self.receiver.lock().unwrap_or_else(PoisonError::into_inner);
        let first = receiver.recv();
        let others_idle = self.idle.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        let first = first.ok()?;
        let queued = self.waiting.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        let share = queued.div_ceil(others_idle + 1).min(max_batch.saturating_sub(1));
        let mut group = VecDeque::with_capacity(share);
        while group.len() < share {
            match receiver.try_recv() {
                Ok(job) => group.push_back(job),
                Err(_) => break,
            }
        }
        self.waiting.fetch_sub(group.len(), Ordering::AcqRel);
        Some((first, group))
    }
}
