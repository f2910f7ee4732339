//! The handle the server uses: a cloneable store that runs operations and awaits their commit.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

use natsapi_core::{Clock, Operation, Reply};
use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::job::{Backend, Job};
use crate::{memory, postgres, sqlite};

/// Which backend to open, and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// In memory: fast, gone on exit.
    Memory,
    /// A SQLite file.
    Sqlite(sqlite::SqliteConfig),
    /// A PostgreSQL database.
    Postgres(postgres::PostgresConfig),
}

impl StoreConfig {
    /// An in-memory store.
    pub fn memory() -> Self {
        StoreConfig::Memory
    }

    /// A SQLite store at `path` with default settings.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        StoreConfig::Sqlite(sqlite::SqliteConfig { path: path.into(), ..Default::default() })
    }

    /// A PostgreSQL store at `url` with default settings.
    pub fn postgres(url: impl Into<String>) -> Self {
        StoreConfig::Postgres(postgres::PostgresConfig { url: url.into(), ..Default::default() })
    }
}

/// A cloneable handle on a backend.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("kind", &self.backend.kind()).finish()
    }
}

impl Store {
    /// Opens the configured backend; time comes from `clock`.
    pub fn open(config: &StoreConfig, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let backend: Arc<dyn Backend> = match config {
            StoreConfig::Memory => Arc::new(memory::MemoryBackend::new(clock)),
            StoreConfig::Sqlite(sqlite) => Arc::new(sqlite::SqliteBackend::open(sqlite, clock)?),
            StoreConfig::Postgres(postgres) => {
                Arc::new(postgres::PostgresBackend::open(postgres, clock)?)
            }
        };
        Ok(Store { backend })
    }

    /// The backend's name.
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// Runs `op` atomically and returns its reply once its writes are committed.
    pub async fn run<O: Operation>(&self, op: O) -> Result<Reply<O::Output>, StoreError> {
        if let Some(attempt) = op.read_attempt() {
            let read = if self.backend.queues_reads() {
                let (sender, receiver) = oneshot::channel();
                self.backend.submit_read(Box::new(ReadJob {
                    attempt: Some(attempt),
                    outcome: None,
                    sender,
                }));
                receiver.await.unwrap_or(ReadOutcome::NotRun)
            } else if op.scans() {
                // Inline reads (memory) do no I/O, but a search of a large store still takes
                // long enough to hold up the requests served beside it on this thread.
                let backend = self.backend.clone();
                tokio::task::spawn_blocking(move || read_on(backend.as_ref(), attempt))
                    .await
                    .unwrap_or(ReadOutcome::NotRun)
            } else {
                read_on(self.backend.as_ref(), attempt)
            };
            match read {
                ReadOutcome::Done(reply) => return Ok(reply),
                ReadOutcome::Failed(e) => return Err(e),
                ReadOutcome::NotRun => {}
            }
        }
        let (sender, receiver) = oneshot::channel();
        self.backend.submit(Box::new(OpJob { op, result: None, undone: false, sender }));
        receiver.await.map_err(|_| StoreError::Closed)?
    }

    /// Checks that the store answers: runs a transaction on the write path that only reads.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(Ping).await.map(|_| ())
    }
}

/// An operation queued for the write path, and the caller waiting for its reply.
struct OpJob<O: Operation> {
    op: O,
    /// The last run's reply, or why it failed.
    result: Option<Result<Reply<O::Output>, StoreError>>,
    /// Whether the last run refused after writing ([`natsapi_core::TxError::refused`]): its
    /// writes are undone and its reply is the refusal, whatever becomes of the transaction.
    undone: bool,
    sender: oneshot::Sender<Result<Reply<O::Output>, StoreError>>,
}

impl<O: Operation> Job for OpJob<O> {
    fn run(&mut self, tx: &mut dyn natsapi_core::Tx, now: i64) -> bool {
        // A panicking operation must not take the backend (and its writer thread) down: it is
        // reported to its caller and its writes are rolled back like any failure.
        let op = self.op.clone();
        let applied = std::panic::catch_unwind(AssertUnwindSafe(|| op.apply(tx, now)));
        self.undone = false;
        let result = match applied {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => match err.into_refusal() {
                Ok(refusal) => {
                    self.undone = true;
                    Ok(Err(refusal))
                }
                Err(err) => Err(StoreError::Tx(err)),
            },
            Err(panic) => Err(StoreError::Panicked(panic_message(panic.as_ref()))),
        };
        let failed = self.undone || result.is_err();
        self.result = Some(result);
        failed
    }

    fn fail(&mut self, error: StoreError) {
        self.undone = false;
        self.result = Some(Err(error));
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        let reply = match self.result {
            Some(Err(failure)) => Err(failure),
            Some(Ok(reply)) if self.undone => Ok(reply),
            Some(Ok(reply)) => committed.map(|()| reply),
            None => Err(committed.err().unwrap_or(StoreError::Closed)),
        };
        let _ = self.sender.send(reply);
    }
}

/// A read attempt queued for a backend's read threads, and the caller waiting for what it came
/// to.
struct ReadJob<O: Operation> {
    /// Until it has run.
    attempt: Option<O>,
    /// Once it has run.
    outcome: Option<ReadOutcome<O::Output>>,
    sender: oneshot::Sender<ReadOutcome<O::Output>>,
}

impl<O: Operation> Job for ReadJob<O> {
    fn run(&mut self, tx: &mut dyn natsapi_core::Tx, now: i64) -> bool {
        if let Some(attempt) = self.attempt.take() {
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| attempt.apply(tx, now)));
            self.outcome = Some(outcome_of(applied));
        }
        false
    }

    fn first_promise(&self) -> Option<&str> {
        self.attempt.as_ref()?.first_promise()
    }

    fn deliver(self: Box<Self>, _committed: Result<(), StoreError>) {
        // Not run (the backend could not read): the caller runs the operation on the writer.
        let _ = self.sender.send(self.outcome.unwrap_or(ReadOutcome::NotRun));
    }
}

/// What a read attempt came to.
enum ReadOutcome<T> {
    /// The operation completed on the read path.
    Done(Reply<T>),
    /// The store failed, or the operation panicked.
    Failed(StoreError),
    /// No read path, or the operation needs to write: run it on the writer.
    NotRun,
}

/// Runs `attempt` on the backend's read path, if it has one.
fn read_on<O: Operation>(backend: &dyn Backend, attempt: O) -> ReadOutcome<O::Output> {
    let mut attempt = Some(attempt);
    let mut result = None;
    backend.read_inline(&mut |tx, now| {
        if let Some(op) = attempt.take() {
            result = Some(std::panic::catch_unwind(AssertUnwindSafe(|| op.apply(tx, now))));
        }
    });
    result.map_or(ReadOutcome::NotRun, outcome_of)
}

/// What running a read attempt (caught if it panicked) came to.
fn outcome_of<T>(
    result: std::thread::Result<Result<Reply<T>, natsapi_core::TxError>>,
) -> ReadOutcome<T> {
    match result {
        Ok(Ok(reply)) => ReadOutcome::Done(reply),
        Ok(Err(e)) if e.is_needs_write() => ReadOutcome::NotRun,
        // Nothing was written on the read path: a refusal is just the reply.
        Ok(Err(e)) => match e.into_refusal() {
            Ok(refusal) => ReadOutcome::Done(Err(refusal)),
            Err(e) => ReadOutcome::Failed(StoreError::Tx(e)),
        },
        Err(panic) => ReadOutcome::Failed(StoreError::Panicked(panic_message(panic.as_ref()))),
    }
}

/// The text a panic carried, when it was a string.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "operation panicked".to_owned())
}

/// An operation that only reads, run on the write path to prove the writer executes
/// transactions.
#[derive(Clone)]
struct Ping;

impl Operation for Ping {
    type Output = ();

    fn apply(
        self,
        tx: &mut dyn natsapi_core::Tx,
        _now: i64,
    ) -> Result<Reply<()>, natsapi_core::TxError> {
        tx.next_promise_deadline()?;
        Ok(Ok(natsapi_core::Success::ok(())))
    }
}
