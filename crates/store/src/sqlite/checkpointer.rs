//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: the writer
//! copies the WAL into the database file and syncs it while that group's replies, and every job
//! queued behind them, wait. Those are the slowest commits by far. Instead, the writer's commit
//! only notes how large the WAL has grown, and a thread with its own connection runs passive
//! checkpoints, which copy frames while new writes go on; the writer restarts the WAL from its
//! start once a checkpoint has caught up.

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, MAIN_DB};

use crate::error::StoreError;

/// WAL size, in pages, past which a checkpoint is requested (SQLite's own default threshold).
pub const CHECKPOINT_PAGES: i32 = 1000;

/// Starts the checkpoint thread on `conn` and points `writer`'s commits at it. The thread ends
/// when `writer` is closed.
pub fn start(writer: &mut Connection, conn: Connection) -> Result<JoinHandle<()>, StoreError> {
    let (request, requests) = sync_channel::<()>(1);
    // Replaces SQLite's automatic checkpoints, which are themselves a WAL hook.
    writer
        .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages >= CHECKPOINT_PAGES {
                // Full means a checkpoint is already requested.
                let _ = request.try_send(());
            }
            Ok(())
        }))
        .map_err(|e| StoreError::Open(format!("cannot install the WAL hook: {e}")))?;
    std::thread::Builder::new()
        .name("natsapi-checkpoint".into())
        .spawn(move || checkpoint_loop(&conn, &requests))
        .map_err(|e| StoreError::Open(e.to_string()))
}

fn checkpoint_loop(conn: &Connection, requests: &Receiver<()>) {
    while requests.recv().is_ok() {
        match conn.wal_checkpoint_v2(Some(MAIN_DB), CheckpointMode::PASSIVE) {
            Ok((frames, copied)) => tracing::debug!(frames, copied, "WAL checkpoint"),
            // Another process's checkpoint, or a busy database: the next request retries.
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint did not run"),
        }
    }
}
