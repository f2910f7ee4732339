//! The SQLite backend: one writer thread owns the connection and commits jobs in groups.
//!
//! Jobs queue on a channel. The writer takes every job waiting (up to `max_batch`), runs each in
//! its own savepoint inside one `BEGIN IMMEDIATE` transaction, commits once, and only then releases
//! the replies. Throughput is therefore not bound by one commit (and one fsync) per request, and no
//! reply is sent for a write that is not durable. WAL mode keeps readers in other processes
//! unblocked.

mod schema;
mod tx;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use natsapi_core::Clock;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::error::StoreError;
use crate::job::{Backend, Job};

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
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            path: PathBuf::from("natsapi.db"),
            synchronous: Synchronous::Full,
            max_batch: 512,
        }
    }
}

/// A store in one SQLite file.
pub struct SqliteBackend {
    sender: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn open_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Open(e.to_string())
}

/// Opens the file, sets the pragmas, registers functions and migrates the schema.
fn connect(config: &SqliteConfig) -> Result<Connection, StoreError> {
    if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut conn = Connection::open(&config.path)
        .map_err(|e| open_err(format!("{}: {e}", config.path.display())))?;
    let mode: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_err(format!("{} cannot use WAL mode", config.path.display())));
    }
    let sync = match config.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync).map_err(open_err)?;
    conn.pragma_update(None, "busy_timeout", 5000).map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.create_scalar_function(
        "natsapi_glob",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let pattern = ctx.get_raw(0).as_str().map_err(rusqlite::Error::from)?;
            let id = ctx.get_raw(1).as_str().map_err(rusqlite::Error::from)?;
            Ok(natsapi_core::glob::matches(pattern, id))
        },
    )
    .map_err(open_err)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

impl SqliteBackend {
    /// Opens (creating and migrating when needed) the database and starts its writer thread.
    pub fn open(config: &SqliteConfig, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let conn = connect(config)?;
        let (sender, receiver) = mpsc::channel();
        let max_batch = config.max_batch.max(1);
        let writer = std::thread::Builder::new()
            .name("natsapi-sqlite".into())
            .spawn(move || write_loop(conn, receiver, clock, max_batch))
            .map_err(open_err)?;
        Ok(SqliteBackend { sender: Mutex::new(Some(sender)), writer: Mutex::new(Some(writer)) })
    }
}

impl Backend for SqliteBackend {
    fn submit(&self, job: Job) {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = sender.as_ref() {
            // A send fails only after the writer stopped; dropping the job reports "closed".
            let _ = sender.send(job);
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
    }
}

/// The writer thread: group commit until every sender is gone.
fn write_loop(conn: Connection, jobs: Receiver<Job>, clock: Arc<dyn Clock>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        run_batch(&conn, &mut batch, clock.as_ref());
    }
    tracing::debug!("sqlite writer stopped");
}

/// Runs a fixed statement through the statement cache (no SQL parsing per call).
fn run_statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs the jobs in one transaction, then releases every reply with the commit's result.
fn run_batch(conn: &Connection, batch: &mut Vec<Job>, clock: &dyn Clock) {
    if let Err(e) = run_statement(conn, "BEGIN IMMEDIATE") {
        let message = format!("cannot begin transaction: {e}");
        tracing::error!(%message);
        for job in batch.drain(..) {
            // The job never ran; dropping it tells its caller the store failed.
            drop(job);
        }
        return;
    }
    let mut deliveries = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if let Err(e) = run_statement(conn, "SAVEPOINT op") {
            tracing::error!(error = %e, "cannot open savepoint");
            continue;
        }
        let mut tx = tx::SqliteTx { conn };
        let outcome = job(&mut tx, clock.now_ms());
        let closed = if outcome.failed {
            run_statement(conn, "ROLLBACK TO op").and_then(|()| run_statement(conn, "RELEASE op"))
        } else {
            run_statement(conn, "RELEASE op")
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "cannot close savepoint");
        }
        deliveries.push(outcome.deliver);
    }
    let committed = run_statement(conn, "COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(error = %e, "store commit failed");
        e.to_string()
    });
    for deliver in deliveries {
        deliver(committed.clone().map_err(StoreError::Commit));
    }
}
