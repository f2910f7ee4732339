//! A queue that several threads of a backend share: PostgreSQL's writers, or the readers of
//! either database backend. A thread that starts a group (a transaction's worth of jobs) takes its
//! fair share of the jobs waiting at that moment (those waiting, divided among itself and the
//! threads idle beside it), so under load the groups run side by side instead of one thread
//! taking everything while the others wait.
//!
//! Waking a thread is a system call on each side and a context switch, so the queue wakes no more
//! threads than the jobs need: a job wakes one sleeping thread unless one is already on its way,
//! and a thread that leaves jobs behind for the others wakes the next. [`JobSender::send_soon`]
//! goes further for jobs submitted from a Tokio task: it wakes the threads once the task yields,
//! so the jobs one poll submits (a batch of requests a transport took together) reach them in
//! one wake-up and one group.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::delivery::{Delivery, Settled};
use crate::error::StoreError;
use crate::job::BoxJob;
use crate::queue::Places;

/// The sending side, for the store. Dropping it closes the queue: the threads finish the jobs
/// queued and stop.
pub(crate) struct JobSender {
    queue: Arc<JobQueue>,
}

/// The receiving side, shared by the threads that take the jobs.
pub(crate) struct JobQueue {
    state: Mutex<State>,
    /// Where idle threads wait for jobs.
    ready: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<BoxJob>,
    /// Whether the sender is gone.
    closed: bool,
    /// Threads waiting for jobs.
    idle: usize,
    /// Of those, how many have been woken and not yet run.
    woken: usize,
    /// Whether a task will wake the threads for jobs sent with [`JobSender::send_soon`].
    wake_scheduled: bool,
}

/// A queue and its sender.
pub(crate) fn channel() -> (JobSender, Arc<JobQueue>) {
    let queue = Arc::new(JobQueue { state: Mutex::default(), ready: Condvar::new() });
    (JobSender { queue: queue.clone() }, queue)
}

impl JobSender {
    /// Queues `job`, waking a thread for it when none is awake to take it. A job sent once
    /// every thread has stopped is dropped (its caller sees "closed").
    pub(crate) fn send(&self, job: BoxJob) {
        if let Some(mut state) = self.queue.push(job) {
            let wake = state.wake_one();
            drop(state);
            if wake {
                self.queue.ready.notify_one();
            }
        }
    }

    /// Queues `job` like [`JobSender::send`], but on a Tokio runtime wakes a thread only when
    /// the current task yields: the other jobs it submits meanwhile go in the same wake-up.
    pub(crate) fn send_soon(&self, job: BoxJob) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return self.send(job) };
        let Some(mut state) = self.queue.push(job) else { return };
        let schedule = !std::mem::replace(&mut state.wake_scheduled, true);
        drop(state);
        if schedule {
            // A task spawned from a task runs after it yields (a runtime that is shutting
            // down drops the task instead, which wakes the threads just as well).
            let wake = WakeOnDrop(self.queue.clone());
            runtime.spawn(async move { drop(wake) });
        }
    }
}

impl Drop for JobSender {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

/// Wakes a thread for the jobs sent with [`JobSender::send_soon`], when dropped.
struct WakeOnDrop(Arc<JobQueue>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.wake_scheduled = false;
        let wake = !state.jobs.is_empty() && state.wake_one();
        drop(state);
        if wake {
            self.0.ready.notify_one();
        }
    }
}

impl State {
    /// Whether to wake a thread: one is asleep, and no other is on its way already. Counts
    /// the wake-up when so.
    fn wake_one(&mut self) -> bool {
        let wake = self.idle > self.woken;
        self.woken += usize::from(wake);
        wake
    }
}

impl JobQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `job` and returns the locked state; `None` (dropping the job) once every thread
    /// that takes jobs is gone.
    fn push(self: &Arc<Self>, job: BoxJob) -> Option<MutexGuard<'_, State>> {
        // The sender holds the only other reference: the threads are gone.
        if Arc::strong_count(self) == 1 {
            return None;
        }
        let mut state = self.lock();
        state.jobs.push_back(job);
        Some(state)
    }

    /// The next job, waiting for it, and this thread's share of the jobs queued behind it (at
    /// most `max_batch` in all); `None` once the sender is gone and the queue is empty.
    pub(crate) fn take_group(&self, max_batch: usize) -> Option<(BoxJob, VecDeque<BoxJob>)> {
        let mut state = self.lock();
        while state.jobs.is_empty() {
            if state.closed {
                return None;
            }
            state.idle += 1;
            state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
            state.woken = state.woken.saturating_sub(1);
        }
        let first = state.jobs.pop_front()?;
        // The threads still asleep share the rest with this one.
        let share = state.jobs.len().div_ceil(state.idle + 1).min(max_batch.saturating_sub(1));
        let group: VecDeque<BoxJob> = state.jobs.drain(..share).collect();
        let wake = !state.jobs.is_empty() && state.wake_one();
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Some((first, group))
    }
}

/// The loop of a reader thread: takes its share of the waiting read attempts from `jobs` until
/// every sender is gone, runs each batch with `run`, and hands the batch's answers back through
/// `delivery` in one wake-up.
pub(crate) fn serve_reads(
    jobs: &JobQueue,
    delivery: &Delivery,
    max_batch: usize,
    mut run: impl FnMut(&mut Vec<BoxJob>),
) {
    while let Some((first, waiting)) = jobs.take_group(max_batch) {
        let mut batch = Vec::with_capacity(waiting.len() + 1);
        batch.push(first);
        batch.extend(waiting);
        run(&mut batch);
        delivery.release(Settled::new(batch, Ok(())));
    }
}

/// Queues a read attempt for the reader threads behind `reads` when `places` admits it (a read
/// refused there is answered at once); once the readers are gone it is answered as closed.
pub(crate) fn submit_read(places: &Places, reads: &Mutex<Option<JobSender>>, job: BoxJob) {
    let Some(job) = places.admit(job) else { return };
    let reads = reads.lock().unwrap_or_else(PoisonError::into_inner);
    match reads.as_ref() {
        Some(reads) => reads.send_soon(job),
        None => job.deliver(Err(StoreError::Closed)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use natsapi_core::Tx;

    use super::*;
    use crate::StoreError;
    use crate::job::Job;

    /// A job that does nothing.
    struct Idle;

    impl Job for Idle {
        fn run(&mut self, _tx: &mut dyn Tx, _now: i64) -> bool {
            false
        }

        fn deliver(self: Box<Self>, _committed: Result<(), StoreError>) {}
    }

    /// Starts a thread that takes groups until the queue closes and reports each group's size.
    fn taker(queue: &Arc<JobQueue>) -> (std::thread::JoinHandle<()>, mpsc::Receiver<usize>) {
        let (sizes, taken) = mpsc::channel();
        let queue = queue.clone();
        let thread = std::thread::spawn(move || {
            while let Some((_, rest)) = queue.take_group(512) {
                sizes.send(1 + rest.len()).unwrap();
            }
        });
        (thread, taken)
    }

    /// Waits until `n` threads sleep in `take_group`.
    fn until_idle(queue: &JobQueue, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while queue.lock().idle < n {
            assert!(Instant::now() < deadline, "the takers did not go idle");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_lone_thread_takes_everything_waiting_up_to_the_batch_limit() {
        let (sender, queue) = channel();
        for _ in 0..10 {
            sender.send(Box::new(Idle));
        }
        let (_, rest) = queue.take_group(4).unwrap();
        assert_eq!(rest.len(), 3);
        let (_, rest) = queue.take_group(512).unwrap();
        assert_eq!(rest.len(), 5);
        drop(sender);
        assert!(queue.take_group(512).is_none(), "a closed, empty queue ends its takers");
    }

    #[test]
    fn a_thread_leaves_a_share_for_the_idle_one_and_wakes_it() {
        let (_sender, queue) = channel();
        // Each takes one group and reports its size.
        let (sizes, taken) = mpsc::channel();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (queue, sizes) = (queue.clone(), sizes.clone());
                std::thread::spawn(move || {
                    let (_, rest) = queue.take_group(512).unwrap();
                    sizes.send(1 + rest.len()).unwrap();
                })
            })
            .collect();
        until_idle(&queue, 2);
        // Queued at once, so that both threads are still asleep when all ten are in.
        {
            let mut state = queue.lock();
            state.jobs.extend((0..10).map(|_| Box::new(Idle) as BoxJob));
            assert!(state.wake_one());
        }
        queue.ready.notify_one();
        let wait = Duration::from_secs(10);
        let mut sizes = [taken.recv_timeout(wait), taken.recv_timeout(wait)]
            .map(|size| size.expect("each thread took a group"));
        sizes.sort_unstable();
        // The first takes one and half of the nine behind it, rounded up.
        assert_eq!(sizes, [4, 6]);
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[tokio::test]
    async fn jobs_sent_soon_from_one_poll_reach_a_thread_as_one_group() {
        let (sender, queue) = channel();
        let (thread, sizes) = taker(&queue);
        until_idle(&queue, 1);
        for _ in 0..10 {
            sender.send_soon(Box::new(Idle));
        }
        assert_eq!(queue.lock().woken, 0, "no thread is woken before the task yields");
        let size = tokio::task::spawn_blocking(move || sizes.recv_timeout(Duration::from_secs(10)));
        assert_eq!(size.await.unwrap().unwrap(), 10);
        drop(sender);
        thread.join().unwrap();
    }

    #[test]
    fn jobs_sent_soon_on_a_runtime_that_shuts_down_still_wake_a_thread() {
        let (sender, queue) = channel();
        let (thread, sizes) = taker(&queue);
        until_idle(&queue, 1);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        // The task that would wake the thread never runs: the runtime drops it.
        runtime.block_on(async { sender.send_soon(Box::new(Idle)) });
        drop(runtime);
        assert_eq!(sizes.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
        drop(sender);
        thread.join().unwrap();
    }

    #[test]
    fn a_job_sent_once_every_thread_is_gone_is_dropped() {
        let (sender, queue) = channel();
        drop(queue);
        let (delivered, outcome) = mpsc::channel();
        sender.send(Box::new(Reports(delivered)));
        assert!(outcome.recv_timeout(Duration::from_secs(1)).is_err(), "dropped unanswered");
    }

    /// A job that reports its delivery.
    struct Reports(mpsc::Sender<()>);

    impl Job for Reports {
        fn run(&mut self, _tx: &mut dyn Tx, _now: i64) -> bool {
            false
        }

        fn deliver(self: Box<Self>, _committed: Result<(), StoreError>) {
            let _ = self.0.send(());
        }
    }
}
