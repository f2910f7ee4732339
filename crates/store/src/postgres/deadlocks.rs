//! Breaking deadlocks between writers at once, instead of after PostgreSQL's `deadlock_timeout`.
//!
//! Writers commit groups of operations side by side, and each operation takes its row locks in
//! the order it reads (see the store contract in [`crate`]), so two groups can wait on each other:
//! one holds a task and wants its promise, the other holds the promise and wants its tasks.
//! PostgreSQL breaks such a cycle only after `deadlock_timeout` (1 s by default, changeable by
//! superusers only), and a group whose rerun meets another cycle waits again: seconds, for every
//! request in the group.
//!
//! So each store runs a watchdog. Every writer's connection is [`Watch`]ed: when a statement has
//! run longer than [`STALL`], the watchdog asks the server who blocks whom in this database
//! (`pg_blocking_pids`) and, when the writer is in a tangle of waits that leads back to it (a
//! strongly connected set of the wait graph), cancels the statement of the tangle's member with
//! the highest process id, if that member is one of its own writers. natsapi instances that see
//! the same graph pick the same victim, so a cycle between instances loses one member, not all.
//! The cancelled statement fails as a conflict, and the group runner rolls back and reruns the
//! group, as it does after a deadlock PostgreSQL detects, which still happens when the victim
//! belongs to something other than natsapi, or to sessions the watchdog cannot see (a role
//! without `pg_read_all_stats` sees the wait state of its own role's sessions only). A wait that
//! is not a cycle is left alone.
//!
//! The watchdog's connection is opened when a writer first stalls and closed after [`IDLE`]
//! without one. When it cannot look (no connection, no right to read `pg_stat_activity`), it says
//! so once and tries again after [`BACK_OFF`], leaving the deadlocks to PostgreSQL meanwhile.
//!
//! Cancelling is racy by nature: a cancel reaches the server after the statement it aims at may
//! have ended. The watchdog holds the writer's watch while it sends the cancel, so the writer
//! cannot start its next statement before the cancel is on its way, and PostgreSQL ignores a
//! cancel that finds the session idle; one that still lands on the next statement makes it fail
//! as a conflict (see [`CANCEL_ECHO`]), and one that lands on `BEGIN` is retried there.

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::{CancelToken, NoTls};

use super::connection::{PgConn, Settings};

/// How long a statement runs before the watchdog looks for a cycle it is part of (and how often
/// it looks).
const STALL: Duration = Duration::from_millis(20);

/// How long after the watchdog cancels a statement of a connection a cancelled statement there
/// still counts as a deadlock's victim, not as timed out: a cancel may land on the statement
/// after the one it aimed at.
const CANCEL_ECHO: Duration = Duration::from_secs(1);

/// How long the watchdog keeps its connection without a stalled writer.
const IDLE: Duration = Duration::from_secs(10);

/// How long the watchdog waits after it could not look for deadlocks.
const BACK_OFF: Duration = Duration::from_secs(5);

/// The lock waits in this database: each waiting process with those it waits for.
const WAITS: &str = "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity \
     WHERE wait_event_type = 'Lock' AND datname = current_database()";

/// What the watchdog knows of one writer's connection.
#[derive(Default)]
pub(super) struct Watch {
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    /// The connection's server process, and how to cancel its statement.
    backend: Option<(i32, CancelToken)>,
    /// When the running statement started; `None` between statements.
    since: Option<Instant>,
    /// Counts statements, so a cancel aims at the statement that was seen stalled.
    statement: u64,
    /// The last statement the watchdog cancelled (it is cancelled once, however long the cancel
    /// takes to land), and when.
    cancelled: Option<(u64, Instant)>,
}

impl Watch {
    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection now runs in server process `pid` (after connecting or reconnecting).
    pub(super) fn attach(&self, pid: i32, cancel: CancelToken) {
        let mut state = self.state();
        state.backend = Some((pid, cancel));
        state.cancelled = None;
    }

    /// A statement starts.
    pub(super) fn started(&self) {
        let mut state = self.state();
        state.since = Some(Instant::now());
        state.statement += 1;
    }

    /// The statement ended.
    pub(super) fn ended(&self) {
        self.state().since = None;
    }

    /// Whether a statement that failed as cancelled was a deadlock's victim (rather than timed
    /// out): the watchdog cancelled one of this connection's statements less than
    /// [`CANCEL_ECHO`] ago.
    pub(super) fn cancelled_lately(&self) -> bool {
        self.state().cancelled.is_some_and(|(_, at)| at.elapsed() < CANCEL_ECHO)
    }

    /// The server process and statement number of a statement running longer than `stall`.
    fn stalled(&self, stall: Duration) -> Option<(i32, u64)> {
        let state = self.state();
        let (pid, _) = state.backend.as_ref()?;
        state.since.filter(|since| since.elapsed() >= stall).map(|_| (*pid, state.statement))
    }

    /// Cancels `statement` if it is still running and was not cancelled before; returns whether
    /// a cancel was sent. The watch stays held meanwhile, so the writer cannot start another.
    fn cancel(&self, statement: u64) -> Result<bool, postgres::Error> {
        let mut state = self.state();
        if state.backend.is_none()
            || state.since.is_none()
            || state.statement != statement
            || state.cancelled.is_some_and(|(cancelled, _)| cancelled == statement)
        {
            return Ok(false);
        }
        state.cancelled = Some((statement, Instant::now()));
        if let Some((_, token)) = &state.backend {
            token.cancel_query(NoTls)?;
        }
        Ok(true)
    }
}

/// The watchdog of one store's writers.
pub(super) struct Watchdog {
    /// The writers' watches.
    pub(super) watches: Vec<Arc<Watch>>,
    /// How to open the watchdog's connection.
    pub(super) settings: Settings,
}

impl Watchdog {
    /// Watches until `stop`'s sender is dropped.
    pub(super) fn run(self, stop: &Receiver<()>) {
        let mut conn: Option<PgConn> = None;
        let mut last_stall = Instant::now();
        let mut warned = false;
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(STALL) {
            let stalled: Vec<(usize, i32, u64)> = (self.watches.iter().enumerate())
                .filter_map(|(n, watch)| watch.stalled(STALL).map(|(pid, st)| (n, pid, st)))
                .collect();
            if stalled.is_empty() {
                if last_stall.elapsed() >= IDLE {
                    conn = None;
                }
                continue;
            }
            last_stall = Instant::now();
            if let Err(e) = self.break_cycles(&mut conn, &stalled) {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(
                        error = %e,
                        "cannot look for deadlocks between store writers; PostgreSQL's own \
                         detector breaks them meanwhile"
                    );
                }
                conn = None;
                if let Ok(()) | Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(BACK_OFF) {
                    break;
                }
            }
        }
    }

    /// Cancels the stalled writers that are their tangle's victim.
    fn break_cycles(
        &self,
        conn: &mut Option<PgConn>,
        stalled: &[(usize, i32, u64)],
    ) -> Result<(), Box<dyn std::error::Error>> {
        if conn.as_ref().is_none_or(PgConn::is_closed) {
            *conn = Some(self.settings.connect()?);
        }
        let Some(conn) = conn.as_mut() else { return Ok(()) };
        let mut blocked_by: HashMap<i32, Vec<i32>> = HashMap::new();
        for row in conn.client().query(WAITS, &[])? {
            blocked_by.insert(row.try_get(0)?, row.try_get(1)?);
        }
        for &(writer, pid, statement) in stalled {
            let tangle = tangle_of(&blocked_by, pid);
            if tangle.len() < 2 || tangle.iter().max() != Some(&pid) {
                continue;
            }
            if self.watches[writer].cancel(statement)? {
                tracing::info!(pid, ?tangle, "broke a deadlock between store writers");
            }
        }
        Ok(())
    }
}

/// The processes that `start` waits for, directly or not, and that wait for `start` in turn:
/// its strongly connected set in the wait graph `blocked_by` (each process with those it waits
/// for). Just `start` when it is in no cycle.
fn tangle_of(blocked_by: &HashMap<i32, Vec<i32>>, start: i32) -> BTreeSet<i32> {
    let mut waited_on_by: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&waiter, blockers) in blocked_by {
        for &blocker in blockers {
            waited_on_by.entry(blocker).or_default().push(waiter);
        }
    }
    let ahead = reachable(blocked_by, start);
    let behind = reachable(&waited_on_by, start);
    ahead.intersection(&behind).copied().chain([start]).collect()
}

/// The processes reachable from `start` along `edges` (`start` itself only through a cycle).
fn reachable(edges: &HashMap<i32, Vec<i32>>, start: i32) -> BTreeSet<i32> {
    let mut seen = BTreeSet::new();
    let mut next = vec![start];
    while let Some(at) = next.pop() {
        for &to in edges.get(&at).into_iter().flatten() {
            if seen.insert(to) {
                next.push(to);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::tangle_of;

    fn set(pids: &[i32]) -> BTreeSet<i32> {
        pids.iter().copied().collect()
    }

    #[test]
    fn finds_the_cycle_a_process_is_in_and_only_that() {
        // 1 → 2 → 3 → 1 is a cycle; 4 waits on it; 5 waits on 6, which waits on nobody.
        let blocked_by =
            HashMap::from([(1, vec![2]), (2, vec![3]), (3, vec![1]), (4, vec![1]), (5, vec![6])]);
        assert_eq!(tangle_of(&blocked_by, 2), set(&[1, 2, 3]));
        assert_eq!(tangle_of(&blocked_by, 4), set(&[4]), "waiting on a cycle is not being in it");
        assert_eq!(tangle_of(&blocked_by, 5), set(&[5]));
        assert_eq!(tangle_of(&blocked_by, 7), set(&[7]));
    }

    /// Overlapping cycles are one tangle, so exactly one of its members is the highest.
    #[test]
    fn overlapping_cycles_are_one_tangle() {
        // 1 ⇄ 2 and 2 ⇄ 3: every member sees {1, 2, 3}; 9 is only waited on.
        let blocked_by = HashMap::from([(1, vec![9, 2]), (2, vec![1, 3]), (3, vec![2])]);
        for pid in [1, 2, 3] {
            assert_eq!(tangle_of(&blocked_by, pid), set(&[1, 2, 3]), "from {pid}");
        }
        assert_eq!(tangle_of(&blocked_by, 9), set(&[9]));
    }
}
