//! The PostgreSQL backend.
//!
//! Writes: a few writer threads, each owning a connection, take the queued jobs and commit them in
//! groups (`crate::group`), like SQLite's single writer, but side by side. Writers of one store
//! (and of other natsapi instances on the same database) run concurrently, so an operation that
//! reads then writes holds the rows it read: on the write path every read of a row by key takes
//! its row lock (`FOR UPDATE`), and a scan that feeds writes (due timeouts, tasks to deliver,
//! schedules to fire, expired locks) claims its rows with `FOR UPDATE SKIP LOCKED`, so two writers
//! never take the same row. A transaction that deadlocks or meets a row inserted meanwhile is
//! rolled back and run again (see the store contract in [`crate`]); a watchdog breaks deadlocks
//! between writers within milliseconds (`deadlocks`).
//!
//! Reads: operations that usually only read run on reader threads, each with a connection of
//! its own, one statement at a time in autocommit (each sees the last committed state); their
//! answers go back to the runtime a batch at a time (`readers`).
//!
//! No reply is released before its group's `COMMIT` has returned, with `synchronous_commit = on`.

mod connection;
mod deadlocks;
mod readers;
mod schema;
mod tx;
mod writer;

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use natsapi_core::Clock;

use crate::error::{StoreError, cause};
use crate::job::{Backend, BoxJob};
use crate::{delivery, jobs, queue};

pub use connection::redacted;

/// PostgreSQL settings.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A libpq-style connection URL (`postgres://user:password@host:5432/db?sslmode=disable`) or
    /// key=value string (`host=/run/postgresql dbname=natsapi`).
    pub url: String,
    /// Connections this store opens: half (at least one) write, the others read. (While a
    /// writer waits on a lock, the deadlock watchdog opens one more for a moment.)
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
    sender: Mutex<Option<jobs::JobSender>>,
    /// Where read attempts go.
    reads: Mutex<Option<jobs::JobSender>>,
    places: queue::Places,
    /// The bound on read attempts waiting for the readers (one refused goes to the writers,
    /// which refuse it in turn when they are full).
    read_places: queue::Places,
    /// The writer and reader threads.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The deadlock watchdog's thread, and the sender whose drop stops it (after the writers, so
    /// that it can still untangle them while they finish).
    watchdog: Mutex<Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>>,
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
        let (sender, queue) = jobs::channel();
        let (reads, read_queue) = jobs::channel();
        let delivery = delivery::Delivery::start();
        let max_batch = config.max_batch.max(1);
        let mut threads = Vec::new();
        let spawn = |name: String, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(body)
                .map_err(|e| StoreError::Open { what: "a store thread".into(), source: cause(e) })
        };
        let watches: Vec<_> =
            connections.iter().map(|_| Arc::new(deadlocks::Watch::default())).collect();
        for (n, (conn, watch)) in connections.into_iter().zip(&watches).enumerate() {
            let writer = writer::Writer::new(conn, settings.clone(), watch.clone());
            let (jobs, delivery, clock) = (queue.clone(), delivery.clone(), clock.clone());
            threads.push(spawn(
                format!("natsapi-pg-writer-{n}"),
                Box::new(move || writer.write_loop(&jobs, &delivery, clock.as_ref(), max_batch)),
            )?);
        }
        let read_only = settings.read_only();
        for n in 0..config.readers() {
            let reader = readers::Reader::new(
                read_only.connect_on_thread("natsapi-pg-reader")?,
                read_only.clone(),
            );
            let (jobs, delivery, clock) = (read_queue.clone(), delivery.clone(), clock.clone());
            threads.push(spawn(
                format!("natsapi-pg-reader-{n}"),
                Box::new(move || reader.read_loop(&jobs, &delivery, clock.as_ref(), max_batch)),
            )?);
        }
        let (stop_watchdog, stop) = std::sync::mpsc::channel();
        let watchdog = deadlocks::Watchdog { watches, settings: settings.clone() };
        let watchdog = spawn("natsapi-pg-deadlocks".into(), Box::new(move || watchdog.run(&stop)))?;
        Ok(PostgresBackend {
            watchdog: Mutex::new(Some((stop_watchdog, watchdog))),
            sender: Mutex::new(Some(sender)),
            reads: Mutex::new(Some(reads)),
            places: queue::Places::new(config.max_queued),
            read_places: queue::Places::new(config.max_queued),
            threads: Mutex::new(threads),
        })
    }
}

impl Backend for PostgresBackend {
    fn submit(&self, job: BoxJob) {
        let Some(job) = self.places.admit(job) else { return };
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = sender.as_ref() {
            sender.send(job);
        }
    }

    fn queues_reads(&self) -> bool {
        true
    }

    fn submit_read(&self, job: BoxJob) {
        jobs::submit_read(&self.read_places, &self.reads, job);
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.reads.lock().unwrap_or_else(PoisonError::into_inner).take();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
        let watchdog = self.watchdog.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((stop, thread)) = watchdog {
            drop(stop);
            let _ = thread.join();
        }
    }
}
