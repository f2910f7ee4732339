//! The ingest databases (SQLite): one writer thread per file that commits queued jobs in groups,
//! each job inside its own savepoint, and a read connection for status lookups.
//!
//! The worker owns the data file (the `messages` table and the mapped tables). A gateway records
//! the messages it accepts in a file of its own beside it ([`gateway_path`]), with the same
//! schema, and reads the data file only to look statuses up. Two writers on one SQLite file
//! would take turns at its write lock and, worse, throw away each other's page cache at every
//! commit; with a file each they never touch the same file for writing.

pub mod messages;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::error::IngestError;

pub use writer::Durability;

/// Where the database lives and how durable its commits are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSettings {
    /// The SQLite file, created when missing.
    pub path: PathBuf,
    /// `synchronous` of the writer's connection.
    pub durability: Durability,
}

/// The file where a gateway records the messages it accepted: beside the data file `data`, named
/// `<stem>-gateway.<extension>` (`natsapi-ingest.db` → `natsapi-ingest-gateway.db`).
pub fn gateway_path(data: &Path) -> PathBuf {
    let stem = data.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match data.extension() {
        Some(ext) => format!("{stem}-gateway.{}", ext.to_string_lossy()),
        None => format!("{stem}-gateway"),
    };
    data.with_file_name(name)
}

/// A read-only connection to `path` that waits, as the writers do, while another connection
/// holds a lock.
fn open_read_only(path: &Path) -> Result<Connection, IngestError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)?;
    conn.busy_handler(Some(writer::wait_for_lock))?;
    Ok(conn)
}

/// A read-only view of an ingest database another process may not have created yet: opened on
/// first use, and read as "no row" until its `messages` table exists.
#[derive(Clone)]
pub struct ReadOnlyDb {
    path: PathBuf,
    conn: Arc<Mutex<Option<Opened>>>,
}

/// The view's connection, and whether the schema was seen (it is checked until it is).
struct Opened {
    conn: Connection,
    schema: bool,
}

impl ReadOnlyDb {
    /// A view of the file at `path`.
    pub fn new(path: PathBuf) -> Self {
        ReadOnlyDb { path, conn: Arc::new(Mutex::new(None)) }
    }

    /// Runs `query` off the async threads; `None` while the file or its schema does not exist.
    pub async fn read<T, F>(&self, query: F) -> Result<Option<T>, IngestError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, IngestError> + Send + 'static,
    {
        let (path, slot) = (self.path.clone(), Arc::clone(&self.conn));
        tokio::task::spawn_blocking(move || {
            let mut slot =
                slot.lock().map_err(|_| IngestError::Database("reader poisoned".into()))?;
            if slot.is_none() {
                if !path.exists() {
                    return Ok(None);
                }
                *slot = Some(Opened { conn: open_read_only(&path)?, schema: false });
            }
            let Some(opened) = slot.as_mut() else { return Ok(None) };
            if !opened.schema {
                opened.schema = opened.conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
                     AND name = 'messages')",
                    [],
                    |r| r.get(0),
                )?;
                if !opened.schema {
                    return Ok(None);
                }
            }
            query(&opened.conn).map(Some)
        })
        .await
        .map_err(|e| IngestError::Database(format!("read task failed: {e}")))?
    }
}

/// A handle on an ingest database; cheap to clone.
#[derive(Clone)]
pub struct IngestDb {
    writer: writer::Writer,
    reader: Arc<Mutex<Connection>>,
}

/// Most writes waiting for an ingest database's writer at once. The gateway has a few groups and
/// its batch requests in flight, the worker a few batches: far fewer while the writer keeps up.
const MAX_QUEUED: usize = 1024;

impl IngestDb {
    /// Opens (creating and migrating) the database and starts its writer thread.
    pub fn open(settings: &DbSettings) -> Result<Self, IngestError> {
        Self::open_bounded(settings, MAX_QUEUED)
    }

    /// [`IngestDb::open`] with a writer that takes at most `max_queued` writes at once.
    fn open_bounded(settings: &DbSettings, max_queued: usize) -> Result<Self, IngestError> {
        let mut conn = writer::open(settings)?;
        schema::migrate(&mut conn)?;
        let reader = open_read_only(&settings.path)?;
        let writer = writer::Writer::start(conn, settings.durability, max_queued)?;
        Ok(IngestDb { writer, reader: Arc::new(Mutex::new(reader)) })
    }

    /// Runs `job` in the next group transaction (inside a savepoint of its own, rolled back when
    /// it fails) and answers once that transaction has committed.
    pub async fn write<T, F>(&self, job: F) -> Result<T, IngestError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, IngestError> + Send + 'static,
    {
        self.writer.write(job, true).await
    }

    /// Like [`IngestDb::write`], but the commit need not reach the disk before the answer: a
    /// group made only of such jobs commits at `synchronous=NORMAL`, so a power loss may undo it,
    /// while a crash of the process cannot. The next flushed commit makes it durable too (WAL
    /// frames reach the disk in order). For records that a redelivery would write again.
    pub async fn write_unflushed<T, F>(&self, job: F) -> Result<T, IngestError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, IngestError> + Send + 'static,
    {
        self.writer.write(job, false).await
    }

    /// Runs `query` on the read connection, off the async threads.
    pub async fn read<T, F>(&self, query: F) -> Result<T, IngestError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, IngestError> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let conn =
                reader.lock().map_err(|_| IngestError::Database("reader poisoned".into()))?;
            query(&conn)
        })
        .await
        .map_err(|e| IngestError::Database(format!("read task failed: {e}")))?
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), IngestError> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PRAGMA synchronous` as the job sees it: 1 is NORMAL, 2 is FULL.
    fn synchronous(conn: &Connection) -> Result<i64, IngestError> {
        Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }

    #[tokio::test]
    async fn unflushed_jobs_commit_at_normal_and_the_next_flushed_job_at_the_configured_level() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ingest.db");
        let db = IngestDb::open(&DbSettings { path, durability: Durability::Full }).unwrap();
        assert_eq!(db.write(synchronous).await.unwrap(), 2);
        assert_eq!(db.write_unflushed(synchronous).await.unwrap(), 1);
        assert_eq!(db.write(synchronous).await.unwrap(), 2);
        // What an unflushed job wrote is committed like any other write.
        db.write_unflushed(|conn| Ok(conn.execute_batch("CREATE TABLE t (x)")?)).await.unwrap();
        let tables = db
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 't'",
                    [],
                    |r| r.get::<_, i64>(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(tables, 1);
    }

    #[tokio::test]
    async fn a_held_writer_takes_at_most_max_queued_writes_and_refuses_the_next_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let settings = DbSettings { path: dir.path().join("i.db"), durability: Durability::Full };
        let db = IngestDb::open_bounded(&settings, 2).unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let held = db.write(move |_| {
            let _ = hold.recv();
            Ok(1)
        });
        let queued = db.write(|_| Ok(2));
        tokio::pin!(held, queued);
        // Both are handed to the writer, which is held inside the first.
        assert!(futures::poll!(&mut held).is_pending());
        assert!(futures::poll!(&mut queued).is_pending());
        // Answered at once (the bound is a guard: without the limit it would wait for the writer).
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), db.write(|_| Ok(3)));
        let refused = third.await.expect("answered at once").unwrap_err();
        assert!(matches!(refused, IngestError::Overloaded { queued: 2 }), "{refused}");
        assert!(refused.to_string().contains("overloaded"), "{refused}");

        release.send(()).unwrap();
        assert_eq!(held.await.unwrap(), 1);
        assert_eq!(queued.await.unwrap(), 2);
        assert_eq!(db.write(|_| Ok(4)).await.unwrap(), 4, "the places are free again");
    }

    #[tokio::test]
    async fn a_read_only_view_reads_nothing_until_the_file_and_its_schema_exist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let view = ReadOnlyDb::new(path.clone());
        let count = |conn: &Connection| -> Result<i64, IngestError> {
            Ok(conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?)
        };
        assert_eq!(view.read(count).await.unwrap(), None, "no file");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE other (x)").unwrap();
        assert_eq!(view.read(count).await.unwrap(), None, "no messages table");
        IngestDb::open(&DbSettings { path, durability: Durability::Full }).unwrap();
        assert_eq!(view.read(count).await.unwrap(), Some(0));
        // Other errors are errors, not "no row".
        let broken = |conn: &Connection| -> Result<i64, IngestError> {
            Ok(conn.query_row("SELECT COUNT(*) FROM missing", [], |r| r.get(0))?)
        };
        assert!(view.read(broken).await.is_err());
    }
}
