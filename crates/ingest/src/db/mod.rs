//! The ingest database (SQLite): one writer thread that commits queued jobs in groups, each job
//! inside its own savepoint, and a read connection for status lookups.
//!
//! The gateway and the worker of one process share one [`IngestDb`]; separate processes on one
//! file wait for each other through SQLite's busy timeout.

pub mod messages;
mod schema;
mod writer;

use std::path::PathBuf;
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

/// A handle on the ingest database; cheap to clone.
#[derive(Clone)]
pub struct IngestDb {
    writer: writer::Writer,
    reader: Arc<Mutex<Connection>>,
}

impl IngestDb {
    /// Opens (creating and migrating) the database and starts its writer thread.
    pub fn open(settings: &DbSettings) -> Result<Self, IngestError> {
        let mut conn = writer::open(settings)?;
        schema::migrate(&mut conn)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = Connection::open_with_flags(&settings.path, flags)?;
        reader.pragma_update(None, "busy_timeout", 5000)?;
        Ok(IngestDb { writer: writer::Writer::start(conn)?, reader: Arc::new(Mutex::new(reader)) })
    }

    /// Runs `job` in the next group transaction (inside a savepoint of its own, rolled back when
    /// it fails) and answers once that transaction has committed.
    pub async fn write<T, F>(&self, job: F) -> Result<T, IngestError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, IngestError> + Send + 'static,
    {
        self.writer.write(job).await
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
