//! The SQLite backend (WAL mode).
//!
//! Writes: one writer thread owns a connection and commits jobs in groups (see [`writer`]); no
//! reply is released before its transaction is committed, and a committed group's replies are
//! handed back to the runtime in one wake-up (`crate::delivery`). The writer takes a bounded
//! number of jobs at once and refuses more (`crate::queue`). Checkpoints run on a thread of their own
//! ([`checkpointer`]), not inside a commit.
//!
//! Reads: operations that usually only read ([`natsapi_core::Operation::read_attempt`]) run at
//! once on the caller's thread, on a pooled read-only connection that sees the last committed
//! state; if one turns out to need a write (a promise that is due), it is re-run on the writer. A
//! transport that takes requests in batches reads a whole batch in one read transaction
//! ([`read_scope`]).

mod checkpointer;
mod connection;
mod legacy;
mod read_scope;
mod schema;
mod tx;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use natsapi_core::{Clock, Tx};
use rusqlite::Connection;

use crate::error::{StoreError, cause};
use crate::job::{Backend, BoxJob};
use crate::{delivery, queue};

/// Most idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// How SQLite syncs commits to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync on every commit: acknowledged writes survive a power cut.
    #[default]
    Full,
    /// fsync at checkpoints only: acknowledged writes survive a process crash (`kill -9`) but the
    /// last commits may be lost on a power cut.
    Normal,
}

/// SQLite settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file; created with its directory when missing.
    pub path: PathBuf,
    /// Commit durability.
    pub synchronous: Synchronous,
    /// Most jobs committed together.
    pub max_batch: usize,
    /// Most writes waiting for the writer (and for their reply) at once; beyond that a write is
    /// refused at once with [`StoreError::Overloaded`] (503).
    pub max_queued: usize,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            path: PathBuf::from("natsapi.db"),
            synchronous: Synchronous::Full,
            max_batch: 512,
            // Eight full groups: far more than the transports have in flight when the writer
            // keeps up (NATS takes 1,024 requests at once by default).
            max_queued: 4096,
        }
    }
}

/// A store in one SQLite file.
pub struct SqliteBackend {
    config: SqliteConfig,
    clock: Arc<dyn Clock>,
    sender: Mutex<Option<Sender<BoxJob>>>,
    places: queue::Places,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteBackend {
    /// Opens (creating and migrating when needed) the database and starts its writer thread.
    pub fn open(config: &SqliteConfig, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let mut conn = connection::open_writer(config)?;
        let reader = connection::open_reader(config)?;
        let checkpointer = checkpointer::start(&mut conn, connection::open_checkpointer(config)?)?;
        let (sender, receiver) = mpsc::channel();
        let max_batch = config.max_batch.max(1);
        let writer_clock = clock.clone();
        let delivery = delivery::Delivery::start();
        let writer = std::thread::Builder::new()
            .name("natsapi-sqlite".into())
            .spawn(move || writer::write_loop(conn, receiver, delivery, writer_clock, max_batch))
            .map_err(|e| StoreError::Open {
                what: config.path.display().to_string(),
                source: cause(e),
            })?;
        Ok(SqliteBackend {
            config: config.clone(),
            clock,
            sender: Mutex::new(Some(sender)),
            places: queue::Places::new(config.max_queued),
            writer: Mutex::new(Some(writer)),
            checkpointer: Mutex::new(Some(checkpointer)),
            readers: Mutex::new(vec![reader]),
        })
    }

    fn take_reader(&self) -> Option<Connection> {
        let pooled = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        pooled.or_else(|| match connection::open_reader(&self.config) {
            Ok(conn) => Some(conn),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a read connection; using the writer");
                None
            }
        })
    }

    /// Tells this backend's read scopes from another backend's in the same thread.
    fn scope_key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    fn return_reader(&self, conn: Connection) {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
    }
}

impl Backend for SqliteBackend {
    fn submit(&self, job: BoxJob) {
        let Some(job) = self.places.admit(job) else { return };
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = sender.as_ref() {
            // A send fails only after the writer stopped; dropping the job reports "closed".
            let _ = sender.send(job);
        }
    }

    fn read_inline(&self, job: &mut dyn FnMut(&mut dyn Tx, i64)) -> bool {
        let now = self.clock.now_ms();
        if read_scope::read_in_scope(self.scope_key(), &mut |conn| {
            job(&mut tx::SqliteTx::reader(conn), now);
        }) {
            return true;
        }
        let Some(conn) = self.take_reader() else { return false };
        // Outside a scope, each statement reads the last committed state (autocommit). A read
        // operation returns the answer of one query (the lookups before it only find due
        // promises, whose timing out moves the operation to the writer), so it needs no snapshot
        // across statements.
        let mut tx = tx::SqliteTx::reader(&conn);
        job(&mut tx, now);
        self.return_reader(conn);
        true
    }

    fn read_scope(&self, body: &mut dyn FnMut()) {
        match self.take_reader() {
            Some(conn) => {
                if let Some(conn) = read_scope::with_scope(self.scope_key(), conn, body) {
                    self.return_reader(conn);
                }
            }
            None => body(),
        }
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = writer.join();
        }
        // The writer's connection, and with it the checkpoint requests, are gone: it ends.
        let checkpointer = self.checkpointer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(checkpointer) = checkpointer {
            let _ = checkpointer.join();
        }
    }
}
