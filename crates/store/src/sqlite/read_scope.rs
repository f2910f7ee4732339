//! One read transaction shared by the reads of a batch.
//!
//! A read transaction on a WAL database takes and releases file locks (`fcntl` system calls) on
//! the database and its shared-memory index; for a point read that is a large share of the work.
//! A transport that takes requests in batches opens a scope around a batch: the scope's
//! connection holds one read transaction, and every read this thread runs meanwhile uses it.

use std::cell::RefCell;

use rusqlite::Connection;

use super::tx::run_statement;

thread_local! {
    /// The open scope of this thread: the backend it belongs to and its connection.
    static SCOPE: RefCell<Option<(usize, Connection)>> = const { RefCell::new(None) };
}

/// Runs `body` with `conn` in a read transaction as this thread's scope for `backend`, then ends
/// the transaction and hands the connection back (`None` if it could not be recovered).
///
/// Scopes do not nest: an outer scope's snapshot may predate requests the inner body serves. A
/// nested call (a bug) runs its body in the outer scope, and debug builds stop on it.
pub fn with_scope(backend: usize, conn: Connection, body: &mut dyn FnMut()) -> Option<Connection> {
    let open = SCOPE.with(|scope| scope.borrow().is_some());
    debug_assert!(!open, "read scopes do not nest");
    if open || run_statement(&conn, "BEGIN").is_err() {
        body();
        return Some(conn);
    }
    SCOPE.with(|scope| *scope.borrow_mut() = Some((backend, conn)));
    let on_panic = EndOnUnwind;
    body();
    std::mem::forget(on_panic);
    end()
}

/// Ends the scope when `body` unwinds, so the thread is not left holding a stale snapshot.
struct EndOnUnwind;

impl Drop for EndOnUnwind {
    fn drop(&mut self) {
        drop(end());
    }
}

/// Ends this thread's scope: commits its read transaction and returns its connection.
fn end() -> Option<Connection> {
    let (_, conn) = SCOPE.with(|scope| scope.borrow_mut().take())?;
    run_statement(&conn, "COMMIT").ok()?;
    Some(conn)
}

/// Runs `read` on the scope's connection when this thread has one open for `backend`; returns
/// false (without running it) otherwise.
pub fn read_in_scope(backend: usize, read: &mut dyn FnMut(&Connection)) -> bool {
    SCOPE.with(|scope| match scope.borrow().as_ref() {
        Some((owner, conn)) if *owner == backend => {
            read(conn);
            true
        }
        _ => false,
    })
}
