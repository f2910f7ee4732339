//! Group commit, the same for every backend whose writers each drive one connection: take a job,
//! open a transaction, keep running the jobs that are waiting (up to a limit), commit once, then
//! release all their replies. Under load a group grows by itself, so throughput is not bound by one
//! commit (and one flush to disk) per request; when idle, a lone job is committed at once.
//!
//! Jobs take no savepoints (they cost more than the writes they guard). When a job fails after
//! writing, the group's transaction is rolled back and the jobs that ran before it are run again
//! in a new one, each at the time it first ran, so a failed operation leaves nothing behind and
//! does not fail its neighbours. When a job conflicts with another writer's transaction (a
//! deadlock, a serialization failure, a row inserted meanwhile), the group is rolled back, replayed,
//! and the job runs again, up to [`MAX_ATTEMPTS`] times.

use natsapi_core::Clock;

use crate::delivery::Settled;
use crate::error::{Cause, Message, StoreError};
use crate::job::BoxJob;

/// Most runs of one job that conflicted with concurrent writes before it is given up.
pub const MAX_ATTEMPTS: usize = 8;

/// How running one job went.
pub enum Ran {
    /// Its writes stand.
    Kept,
    /// It failed without writing: nothing to undo.
    FailedClean,
    /// It failed after writing, or the database aborted the transaction under it: only a rollback
    /// removes its writes.
    FailedDirty,
    /// It conflicted with a concurrent transaction: roll back, and run it again.
    Conflict,
    /// The transaction is gone and cannot be replayed (an I/O error, a lost connection).
    Aborted(Cause),
}

/// A writer's connection, as the group runner drives it.
pub trait GroupConnection {
    /// Opens a transaction, ending one a failure left open first.
    fn begin(&mut self) -> Result<(), Cause>;
    /// Commits the open transaction.
    fn commit(&mut self) -> Result<(), Cause>;
    /// Rolls the open transaction back.
    fn rollback(&mut self) -> Result<(), Cause>;
    /// Runs `job` at `now` (epoch ms) in the open transaction.
    fn run(&mut self, job: &mut BoxJob, now: i64) -> Ran;
}

/// The jobs of one group: those whose writes stand, with the time they ran at, and those that
/// failed (nothing of theirs stays).
#[derive(Default)]
struct Group {
    kept: Vec<(BoxJob, i64)>,
    failed: Vec<BoxJob>,
}

impl Group {
    fn into_jobs(self) -> Vec<BoxJob> {
        self.kept.into_iter().map(|(job, _)| job).chain(self.failed).collect()
    }
}

/// One transaction: `first` and whatever `next` hands out meanwhile (up to `max_batch` jobs), then
/// one commit. Returns the group's jobs with the transaction's outcome, or nothing when no
/// transaction could begin (the job has then been told why).
pub fn run_group(
    conn: &mut impl GroupConnection,
    first: BoxJob,
    mut next: impl FnMut() -> Option<BoxJob>,
    clock: &dyn Clock,
    max_batch: usize,
) -> Option<Settled> {
    if let Err(e) = conn.begin() {
        tracing::error!(error = %e, "cannot begin a store transaction");
        first.deliver(Err(StoreError::Begin(e)));
        return None;
    }
    let mut group = Group::default();
    let mut broken: Option<Cause> = None;
    let mut pending = Some((first, 1));
    let mut taken = 1;
    while let Some((mut job, attempt)) = pending.take() {
        let now = clock.now_ms();
        match conn.run(&mut job, now) {
            Ran::Kept => group.kept.push((job, now)),
            Ran::FailedClean => group.failed.push(job),
            Ran::FailedDirty => {
                group.failed.push(job);
                broken = replay(conn, &mut group).err();
            }
            Ran::Conflict if attempt >= MAX_ATTEMPTS => {
                tracing::warn!(attempts = attempt, "an operation kept conflicting; given up");
                job.fail(StoreError::Conflict { attempts: attempt });
                group.failed.push(job);
                broken = replay(conn, &mut group).err();
            }
            Ran::Conflict => {
                broken = replay(conn, &mut group).err();
                if broken.is_none() {
                    pending = Some((job, attempt + 1));
                    continue;
                }
                group.failed.push(job);
            }
            Ran::Aborted(e) => {
                // What ran before is gone, and nothing may run outside a transaction.
                group.failed.push(job);
                broken = Some(e);
            }
        }
        if broken.is_none() && taken < max_batch {
            pending = next().map(|job| (job, 1));
            taken += usize::from(pending.is_some());
        }
    }
    let committed = match broken {
        Some(e) => Err(e),
        None => conn.commit(),
    };
    let committed = committed.inspect_err(|e| {
        let _ = conn.rollback();
        tracing::error!(error = %e, "store transaction failed");
    });
    Some(Settled::new(group.into_jobs(), committed))
}

/// Rolls the transaction back and runs the kept jobs again in a new one, each at the time it
/// first ran; a job that now fails moves to the failed ones (and, if it wrote, starts the replay
/// over without it). A job that conflicts again is run again, as often as [`MAX_ATTEMPTS`]
/// allows for the whole replay.
fn replay(conn: &mut impl GroupConnection, group: &mut Group) -> Result<(), Cause> {
    let mut conflicts = 0;
    'restart: loop {
        conn.rollback()?;
        conn.begin()?;
        let mut i = 0;
        while i < group.kept.len() {
            let (job, now) = &mut group.kept[i];
            match conn.run(job, *now) {
                Ran::Kept => i += 1,
                Ran::FailedClean => group.failed.push(group.kept.remove(i).0),
                Ran::FailedDirty => {
                    group.failed.push(group.kept.remove(i).0);
                    continue 'restart;
                }
                Ran::Conflict if conflicts + 1 >= MAX_ATTEMPTS => {
                    let (mut job, _) = group.kept.remove(i);
                    job.fail(StoreError::Conflict { attempts: conflicts + 1 });
                    group.failed.push(job);
                    continue 'restart;
                }
                Ran::Conflict => {
                    conflicts += 1;
                    continue 'restart;
                }
                Ran::Aborted(e) => return Err(e),
            }
        }
        return Ok(());
    }
}

/// The cause of a transaction the database ended by itself.
pub fn rolled_back(what: &str) -> Cause {
    std::sync::Arc::new(Message(what.to_owned()))
}
