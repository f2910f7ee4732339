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
//! run longer than [`STALL`], the watchdog asks the server who blocks whom (`pg_blocking_pids`)
//! and, when the writer is in a cycle, cancels the statement of the cycle's member with the
//! highest process id, if that member is one of its own writers. Every natsapi instance on the
//! database picks the same victim, so a cycle between instances loses one member, not all. The
//! cancelled statement fails as a conflict, and the group runner rolls back and reruns the
//! group, as it does after a deadlock PostgreSQL detects (which still happens when the victim
//! belongs to something other than natsapi). A wait that is not a cycle is left alone.
//!
//! The watchdog's own connection is opened only while a writer is stalled, and closed once none
//! is.
//!
//! Cancelling is racy by nature: when the victim's statement ends just before the cancel reaches
//! the server (its cycle broken otherwise meanwhile), the cancel hits the writer's next statement,
//! which fails as a conflict and reruns too (see [`CANCEL_ECHO`]), or, rarer still, its `COMMIT`,
//! which fails the group as a lost connection would (503, nothing committed).

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::{CancelToken, NoTls};

use super::connection::{PgConn, Settings};

/// How long a statement runs before the watchdog looks for a cycle it is part of (and how often
/// it looks).
const STALL: Duration = Duration::from_millis(20);

/// How long after the watchdog cancels a statement of a connection a cancelled statement there
/// still counts as the deadlock's victim. Cancelling is racy (the statement may end just before
/// the cancel lands, which then hits the next one), and PostgreSQL was seen to report one cancel
/// on two statements in a row: the lock wait it broke and the first statement of the rerun.
const CANCEL_ECHO: Duration = Duration::from_secs(1);

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

    /// Marks `statement` cancelled and returns how to cancel it, if it is still running and
    /// was not cancelled before.
    fn cancel(&self, statement: u64) -> Option<CancelToken> {
        let mut state = self.state();
        if state.since.is_none()
            || state.statement != statement
            || state.cancelled.is_some_and(|(cancelled, _)| cancelled == statement)
        {
            return None;
        }
        let (_, token) = state.backend.as_ref()?;
        let token = token.clone();
        state.cancelled = Some((statement, Instant::now()));
        Some(token)
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
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(STALL) {
            let stalled: Vec<(usize, i32, u64)> = (self.watches.iter().enumerate())
                .filter_map(|(n, watch)| watch.stalled(STALL).map(|(pid, st)| (n, pid, st)))
                .collect();
            if stalled.is_empty() {
                conn = None;
                continue;
            }
            if let Err(e) = self.break_cycles(&mut conn, &stalled) {
                tracing::debug!(error = %e, "cannot look for deadlocks");
                conn = None;
            }
        }
    }

    /// Cancels the stalled writers that are their cycle's victim.
    fn break_cycles(
        &self,
        conn: &mut Option<PgConn>,
        stalled: &[(usize, i32, u64)],
    ) -> Result<(), Box<dyn std::error::Error>> {
        if conn.as_ref().is_none_or(PgConn::is_closed) {
            *conn = Some(self.settings.connect()?);
        }
        let Some(conn) = conn.as_mut() else { return Ok(()) };
        let rows = conn.client().query(
            "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
            &[],
        )?;
        let mut blocked_by: HashMap<i32, Vec<i32>> = HashMap::new();
        for row in rows {
            blocked_by.insert(row.try_get(0)?, row.try_get(1)?);
        }
        for &(writer, pid, statement) in stalled {
            let Some(cycle) = cycle_through(&blocked_by, pid) else { continue };
            if cycle.iter().max() != Some(&pid) {
                continue;
            }
            if let Some(token) = self.watches[writer].cancel(statement) {
                tracing::info!(pid, ?cycle, "breaking a deadlock between store writers");
                token.cancel_query(NoTls)?;
            }
        }
        Ok(())
    }
}

/// The processes of a wait cycle through `start` in `blocked_by` (each process with those it
/// waits for), `start` first; `None` when `start` is in none.
fn cycle_through(blocked_by: &HashMap<i32, Vec<i32>>, start: i32) -> Option<Vec<i32>> {
    fn walk(
        blocked_by: &HashMap<i32, Vec<i32>>,
        start: i32,
        path: &mut Vec<i32>,
        seen: &mut HashSet<i32>,
    ) -> bool {
        let at = *path.last().expect("the path holds the start");
        for &next in blocked_by.get(&at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next) {
                path.push(next);
                if walk(blocked_by, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start];
    let mut seen = HashSet::from([start]);
    walk(blocked_by, start, &mut path, &mut seen).then_some(path)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::cycle_through;

    #[test]
    fn finds_the_cycle_a_process_is_in_and_only_that() {
        // 1 → 2 → 3 → 1 is a cycle; 4 waits on it; 5 waits on 6, which waits on nobody.
        let blocked_by =
            HashMap::from([(1, vec![2]), (2, vec![3]), (3, vec![1]), (4, vec![1]), (5, vec![6])]);
        assert_eq!(cycle_through(&blocked_by, 2), Some(vec![2, 3, 1]));
        assert_eq!(cycle_through(&blocked_by, 4), None, "waiting on a cycle is not being in it");
        assert_eq!(cycle_through(&blocked_by, 5), None);
        assert_eq!(cycle_through(&blocked_by, 7), None);
    }

    #[test]
    fn a_process_blocked_by_several_is_found_through_any() {
        let blocked_by = HashMap::from([(1, vec![9, 2]), (2, vec![1]), (9, vec![8])]);
        assert_eq!(cycle_through(&blocked_by, 1), Some(vec![1, 2]));
    }
}
