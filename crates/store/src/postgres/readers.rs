//! The read connections: opened on demand up to a limit, kept while healthy. A caller that finds
//! every connection busy waits for one (reads are short).

use std::sync::{Condvar, Mutex, PoisonError};

use super::connection::{PgConn, Settings};
use crate::error::StoreError;

/// The pool.
pub(super) struct Readers {
    settings: Settings,
    max: usize,
    state: Mutex<State>,
    returned: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<PgConn>,
    /// Connections that exist, idle or lent.
    open: usize,
}

impl Readers {
    /// A pool of at most `max` (at least one) connections.
    pub(super) fn new(settings: Settings, max: usize) -> Self {
        Readers { settings, max: max.max(1), state: Mutex::default(), returned: Condvar::new() }
    }

    /// Opens the first connection now, so a database that refuses readers fails the start.
    pub(super) fn warm(&self) -> Result<(), StoreError> {
        let conn = self.settings.connect_on_thread("natsapi-pg-reader")?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.open += 1;
        state.idle.push(conn);
        Ok(())
    }

    /// Runs `read` on a connection; call it only from a thread that may block.
    pub(super) fn with<R>(&self, read: impl FnOnce(&mut PgConn) -> R) -> Result<R, StoreError> {
        let mut conn = self.take()?;
        let result = read(&mut conn);
        self.give_back(conn);
        Ok(result)
    }

    fn take(&self) -> Result<PgConn, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                let conn = self.settings.connect();
                if conn.is_err() {
                    self.forget_one();
                }
                return conn;
            }
            state = self.returned.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn give_back(&self, conn: PgConn) {
        if conn.is_closed() {
            drop(conn);
            self.forget_one();
            return;
        }
        self.state.lock().unwrap_or_else(PoisonError::into_inner).idle.push(conn);
        self.returned.notify_one();
    }

    /// Counts one connection less (it failed to open, or broke), and lets a waiter open another.
    fn forget_one(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }
}
