//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: the writer
//! copies the WAL into the database file and syncs it while that group's replies, and every job
//! queued behind them, wait. Those are the slowest commits by far. Instead, the writer's commit
//! only notes how much of the WAL is not yet copied, and a thread with its own connection runs
//! passive checkpoints, which copy frames while new writes go on.
//!
//! The WAL file starts over only when a write begins after a checkpoint has copied all of it and
//! no reader still uses it. Under writes that never pause that moment never comes, and a WAL
//! that only grows makes every commit extend the file (slower syncs) and every read search more
//! of it. So past a limit the writer, between two groups, runs a RESTART checkpoint itself: the
//! frames are mostly copied already, so it costs little, and it waits for readers so that the
//! next write starts the WAL over.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, MAIN_DB};

use crate::error::{StoreError, cause};

/// Frames not yet copied, past which a checkpoint is requested (SQLite's own default threshold).
pub const CHECKPOINT_PAGES: i32 = 1000;

/// WAL size, in frames (about 16 MiB), past which the writer restarts the WAL itself.
pub const WAL_LIMIT_PAGES: i32 = 4 * CHECKPOINT_PAGES;

/// Starts the checkpoint thread on `conn` and points `writer`'s commits at it. The thread ends
/// when `writer` is closed.
pub fn start(writer: &mut Connection, conn: Connection) -> Result<JoinHandle<()>, StoreError> {
    let (request, requests) = sync_channel::<()>(1);
    // Frames of the WAL already copied into the database by the last checkpoint.
    let copied = Arc::new(AtomicI32::new(0));
    let copied_by_thread = copied.clone();
    // Replaces SQLite's automatic checkpoints, which are themselves a WAL hook.
    writer
        .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames: i32| {
            let done = copied.load(Ordering::Acquire);
            // A WAL smaller than what was copied has started over.
            let behind = if frames >= done { frames - done } else { frames };
            if frames >= WAL_LIMIT_PAGES {
                match wal.checkpoint_v2(CheckpointMode::RESTART) {
                    Ok((_, now_copied)) => copied.store(now_copied, Ordering::Release),
                    Err(e) => {
                        tracing::warn!(error = %e, frames, "WAL checkpoint on the writer failed")
                    }
                }
            } else if behind >= CHECKPOINT_PAGES {
                // Full means a checkpoint is already requested.
                let _ = request.try_send(());
            }
            Ok(())
        }))
        .map_err(|e| StoreError::Open { what: "the WAL hook".into(), source: cause(e) })?;
    std::thread::Builder::new()
        .name("natsapi-checkpoint".into())
        .spawn(move || checkpoint_loop(&conn, &requests, &copied_by_thread))
        .map_err(|e| StoreError::Open { what: "the checkpoint thread".into(), source: cause(e) })
}

fn checkpoint_loop(conn: &Connection, requests: &Receiver<()>, copied: &AtomicI32) {
    while requests.recv().is_ok() {
        match conn.wal_checkpoint_v2(Some(MAIN_DB), CheckpointMode::PASSIVE) {
            Ok((frames, now_copied)) => {
                copied.store(now_copied, Ordering::Release);
                tracing::debug!(frames, copied = now_copied, "WAL checkpoint");
            }
            // Another process's checkpoint, or a busy database: the next request retries.
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint did not run"),
        }
    }
}
