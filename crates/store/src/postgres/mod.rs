//! The PostgreSQL backend.
//!
//! Writes: a few writer threads, each owning a connection, take the queued jobs and commit them in
//! groups ([`crate::group`]), like SQLite's single writer, but side by side. Writers of one store
//! (and of other natsapi instances on the same database) run concurrently, so an operation that
//! reads then writes holds the rows it read: on the write path every read of a row by key takes
//! its row lock (`FOR UPDATE`), and a scan that feeds writes (due timeouts, tasks to deliver,
//! schedules to fire, expired locks) claims its rows with `FOR UPDATE SKIP LOCKED`, so two writers
//! never take the same row. A transaction that deadlocks or meets a row inserted meanwhile is
//! rolled back and run again (see the store contract in [`crate`]).
//!
//! Reads: operations that usually only read run on a pool of read connections, one statement at
//! a time in autocommit (each sees the last committed state), on a blocking thread.
//!
//! No reply is released before its group's `COMMIT` has returned, with `synchronous_commit = on`.

mod connection;
mod readers;
mod schema;
mod tx;
mod writer;

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use natsapi_core::{Clock, Tx};

use crate::error::{StoreError, cause};
use crate::job::{Backend, BoxJob};
use crate::{delivery, queue};

pub use connection::redacted;

/// PostgreSQL settings.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A libpq-style connection URL (`postgres://user:password@host:5432/db?sslmode=disable`) or
    /// key=value string (`host=/run/postgresql dbname=natsapi`).
    pub url: String,
    /// Connections this store opens: half (at least one) write, the others read.
    pub pool_size: usize,
    /// Longest a statement may run before the server cancels it (`None`: no limit).
    pub statement_timeout: Option<Duration>,
    /// Most jobs one writer commits together.
    pub max_batch: usize,
    /// Most writes waiting for the writers (and for their reply) at once; beyond that a write is
    /// refused at once with [`StoreError::Overloaded`] (503).
    pub max_queued: usize,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: String::new(),
            pool_size: 8,
            statement_timeout: Some(Duration::from_secs(30)),
            max_batch: 256,
            max_queued: 4096,
        }
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redacted(&self.url))
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("max_batch", &self.max_batch)
            .field("max_queued", &self.max_queued)
            .finish()
    }
}

impl PostgresConfig {
    /// How many writer threads (and write connections) the store runs.
    fn writers(&self) -> usize {
        (self.pool_size / 2).max(1)
    }

    /// How many read connections the store opens at most.
    fn readers(&self) -> usize {
        self.pool_size.saturating_sub(self.writers()).max(1)
    }
}

/// A store in a PostgreSQL database.
pub struct PostgresBackend {
    clock: Arc<dyn Clock>,
    sender: Mutex<Option<Sender<BoxJob>>>,
    places: queue::Places,
    writers: Mutex<Vec<JoinHandle<()>>>,
    readers: readers::Readers,
}

impl PostgresBackend {
    /// Connects, migrates the schema (under an advisory lock, so instances starting together
    /// apply each migration once) and starts the writer threads.
    pub fn open(config: &PostgresConfig, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let settings = connection::Settings::parse(config)?;
        // Connecting blocks on the driver's own runtime: on threads of their own, never on the
        // caller's (which may be a Tokio worker).
        let mut first = settings.connect_on_thread("natsapi-pg-writer")?;
        let migrated = std::thread::scope(|scope| {
            scope.spawn(|| schema::migrate(&mut first)).join().unwrap_or_else(|_| {
                Err(StoreError::Panicked("the schema migration panicked".into()))
            })
        });
        migrated?;
        let mut connections = vec![first];
        for _ in 1..config.writers() {
            connections.push(settings.connect_on_thread("natsapi-pg-writer")?);
        }
        let readers = readers::Readers::new(settings.read_only(), config.readers());
        readers.warm()?;
        let (sender, receiver) = mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let delivery = delivery::Delivery::start();
        let mut writers = Vec::new();
        for (n, conn) in connections.into_iter().enumerate() {
            let writer = writer::Writer::new(conn, settings.clone());
            let (jobs, delivery, clock) = (receiver.clone(), delivery.clone(), clock.clone());
            let max_batch = config.max_batch.max(1);
            let handle = std::thread::Builder::new()
                .name(format!("natsapi-pg-writer-{n}"))
                .spawn(move || writer.write_loop(&jobs, &delivery, clock.as_ref(), max_batch))
                .map_err(|e| StoreError::Open {
                    what: "a writer thread".into(),
                    source: cause(e),
                })?;
            writers.push(handle);
        }
        Ok(PostgresBackend {
            clock,
            sender: Mutex::new(Some(sender)),
            places: queue::Places::new(config.max_queued),
            writers: Mutex::new(writers),
            readers,
        })
    }
}

impl Backend for PostgresBackend {
    fn submit(&self, job: BoxJob) {
        let Some(job) = self.places.admit(job) else { return };
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = sender.as_ref() {
            // A send fails only after the writers stopped; dropping the job reports "closed".
            let _ = sender.send(job);
        }
    }

    fn read_inline(&self, job: &mut dyn FnMut(&mut dyn Tx, i64)) -> bool {
        let now = self.clock.now_ms();
        let ran = self.readers.with(|conn| job(&mut tx::PgTx::reader(conn), now));
        match ran {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "no read connection; reading on a writer");
                false
            }
        }
    }

    fn reads_block(&self) -> bool {
        true
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        let writers =
            std::mem::take(&mut *self.writers.lock().unwrap_or_else(PoisonError::into_inner));
        for writer in writers {
            let _ = writer.join();
        }
    }
}
