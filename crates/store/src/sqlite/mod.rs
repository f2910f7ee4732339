//! The SQLite backend (WAL mode).
//!
//! Writes: one writer thread owns a connection and commits jobs in groups (see `writer`); no
//! reply is released before its transaction is committed, and a committed group's replies are
//! handed back to the runtime in one wake-up (`crate::delivery`). The writer takes a bounded
//! number of jobs at once and refuses more (`crate::queue`). Checkpoints run on a thread of their own
//! (`checkpointer`), not inside a commit.
//!
//! Reads: operations that usually only read ([`natsapi_core::Operation::read_attempt`]) run on
//! reader threads, each with a read-only connection of its own, in batches: each reader takes its
//! fair share of the waiting read attempts (`crate::jobs`), runs them in one read transaction and
//! hands their answers back to the runtime a batch at a time (`readers`). If one turns out to
//! need a write (a promise that is due), it is run again on the writer.

mod checkpointer;
mod connection;
mod legacy;
mod readers;
mod schema;
mod tx;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use natsapi_core::Clock;

use crate::error::{StoreError, cause};
use crate::job::{Backend, BoxJob};
use crate::{delivery, jobs, queue};

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
    /// Most jobs committed together, and most read attempts one reader runs together.
    pub max_batch: usize,
    /// Most writes waiting for the writer (and for their reply) at once; beyond that a write is
    /// refused at once with [`StoreError::Overloaded`] (503). Read attempts have as many places
    /// of their own; one refused there goes to the writer.
    pub max_queued: usize,
    /// Reader threads (at least one), each with a read-only connection of its own.
    pub readers: usize,
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
            readers: 2,
        }
    }
}

/// A store in one SQLite file.
pub struct SqliteBackend {
    sender: Mutex<Option<Sender<BoxJob>>>,
    /// Where read attempts go.
    reads: Mutex<Option<jobs::JobSender>>,
    places: queue::Places,
    /// The bound on read attempts waiting for the readers (one refused goes to the writer,
    /// which refuses it in turn when it is full).
    read_places: queue::Places,
    /// The writer and reader threads.
    threads: Mutex<Vec<JoinHandle<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
}

impl SqliteBackend {
    /// Opens (creating and migrating when needed) the database and starts its writer and reader
    /// threads.
    pub fn open(config: &SqliteConfig, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let mut conn = connection::open_writer(config)?;
        let checkpointer = checkpointer::start(&mut conn, connection::open_checkpointer(config)?)?;
        let (sender, receiver) = mpsc::channel();
        let (reads, read_queue) = jobs::channel();
        let max_batch = config.max_batch.max(1);
        let delivery = delivery::Delivery::start();
        let spawn = |name: String, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name).spawn(body).map_err(|e| StoreError::Open {
                what: config.path.display().to_string(),
                source: cause(e),
            })
        };
        let mut threads = Vec::new();
        let (writer_delivery, writer_clock) = (delivery.clone(), clock.clone());
        threads.push(spawn(
            "natsapi-sqlite".into(),
            Box::new(move || {
                writer::write_loop(conn, receiver, writer_delivery, writer_clock, max_batch)
            }),
        )?);
        for n in 0..config.readers.max(1) {
            let reader = readers::Reader::new(connection::open_reader(config)?, config.clone());
            let (jobs, delivery, clock) = (read_queue.clone(), delivery.clone(), clock.clone());
            threads.push(spawn(
                format!("natsapi-sqlite-reader-{n}"),
                Box::new(move || reader.read_loop(&jobs, &delivery, clock.as_ref(), max_batch)),
            )?);
        }
        Ok(SqliteBackend {
            sender: Mutex::new(Some(sender)),
            reads: Mutex::new(Some(reads)),
            places: queue::Places::new(config.max_queued),
            read_places: queue::Places::new(config.max_queued),
            threads: Mutex::new(threads),
            checkpointer: Mutex::new(Some(checkpointer)),
        })
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

    fn queues_reads(&self) -> bool {
        true
    }

    fn submit_read(&self, job: BoxJob) {
        jobs::submit_read(&self.read_places, &self.reads, job);
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.reads.lock().unwrap_or_else(PoisonError::into_inner).take();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
        // The writer's connection, and with it the checkpoint requests, are gone: it ends.
        let checkpointer = self.checkpointer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(checkpointer) = checkpointer {
            let _ = checkpointer.join();
        }
    }
}
