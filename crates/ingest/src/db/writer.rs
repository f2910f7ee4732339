//! The writer thread: takes queued jobs, runs as many as are waiting in one transaction (each in
//! a savepoint), commits, then answers each job with its result, or with the commit's error.
//!
//! At most `max_queued` jobs wait for their answer at once; a write beyond that fails at once
//! with [`IngestError::Overloaded`] (the gateway answers 503, the worker retries the batch
//! later), so a writer that falls behind pushes back instead of queueing without end.

use std::sync::{Arc, mpsc};

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::DbSettings;
use crate::error::IngestError;

/// How durable a commit is (SQLite's `synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `FULL`: a commit survives power loss (the default).
    #[default]
    Full,
    /// `NORMAL`: in WAL mode the last commits may be lost on power loss.
    Normal,
}

impl Durability {
    /// The value of SQLite's `synchronous` pragma.
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// The most jobs one transaction takes.
const MAX_GROUP: usize = 512;

/// Opens the writer's connection: WAL, the chosen durability, a busy timeout for other processes.
pub(super) fn open(settings: &DbSettings) -> Result<Connection, IngestError> {
    if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| IngestError::Database(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut conn = Connection::open(&settings.path)
        .map_err(|e| IngestError::Database(format!("{}: {e}", settings.path.display())))?;
    conn.busy_handler(Some(wait_for_lock))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(IngestError::Database(format!(
            "{} cannot use WAL mode",
            settings.path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", settings.durability.pragma())?;
    conn.set_prepared_statement_cache_capacity(64);
    // Statement journals and temporary tables in memory, not in temporary files: every upsert
    // inside a batch opens a statement journal.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 16 MiB of page cache (negative = KiB).
    conn.pragma_update(None, "cache_size", -16_384)?;
    Ok(conn)
}

/// SQLite's busy handler for the ingest connections: when another process (a gateway and a
/// worker on one file) holds the write lock, retry after 50 µs, then every 200 µs, for about
/// 10 s. SQLite's own `busy_timeout` sleeps 1, 2, 5, … up to 100 ms between tries, which turned
/// every contended commit into milliseconds of idle waiting.
pub(super) fn wait_for_lock(attempt: i32) -> bool {
    const MAX_ATTEMPTS: i32 = 50_000;
    let pause = if attempt < 20 { 50 } else { 200 };
    std::thread::sleep(std::time::Duration::from_micros(pause));
    attempt < MAX_ATTEMPTS
}

/// One queued job.
trait Job: Send {
    /// Whether the job's commit must reach the disk before the job is answered.
    fn flush(&self) -> bool;
    /// Runs the job in the open transaction, inside its own savepoint.
    fn run(&mut self, conn: &Connection);
    /// Answers the caller, given how the transaction ended.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

/// A closure, its result once run, the caller waiting for it, and the place it holds.
struct Pending<T, F> {
    job: Option<F>,
    flush: bool,
    result: Option<Result<T, IngestError>>,
    reply: oneshot::Sender<Result<T, IngestError>>,
    place: OwnedSemaphorePermit,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, IngestError> + Send,
{
    fn flush(&self) -> bool {
        self.flush
    }

    fn run(&mut self, conn: &Connection) {
        let Some(job) = self.job.take() else { return };
        let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
        let result = match run("SAVEPOINT job") {
            Ok(_) => {
                let result = job(conn);
                let ended = if result.is_ok() {
                    run("RELEASE job")
                } else {
                    run("ROLLBACK TO job").and_then(|_| run("RELEASE job"))
                };
                match ended {
                    Ok(_) => result,
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        };
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        // Free the place first: a caller that got its answer may write again at once.
        drop(self.place);
        let result = match (self.result, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Err(e)) => Err(IngestError::Database(format!("commit failed: {e}"))),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Err(e)) => Err(IngestError::Database(e)),
            (None, Ok(())) => Err(IngestError::Database("the job did not run".into())),
        };
        let _ = self.reply.send(result);
    }
}

/// The sending side of the writer thread.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// The places for jobs waiting for their answer.
    places: Arc<Semaphore>,
    max_queued: usize,
}

impl Writer {
    /// Starts the writer thread on `conn`, opened with `durability`, taking at most `max_queued`
    /// jobs at once (at least 1); it stops when every handle is dropped.
    pub(super) fn start(
        conn: Connection,
        durability: Durability,
        max_queued: usize,
    ) -> Result<Self, IngestError> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("ingest-db-writer".into())
            .spawn(move || write_loop(&conn, durability, &queue))
            .map_err(|e| IngestError::Database(format!("cannot start the writer thread: {e}")))?;
        let max_queued = max_queued.max(1);
        Ok(Writer { jobs, places: Arc::new(Semaphore::new(max_queued)), max_queued })
    }

    /// Queues `job` and waits for its committed result; with `flush` false the commit may stay
    /// in the operating system's cache (see [`super::IngestDb::write_unflushed`]). Fails at once
    /// with [`IngestError::Overloaded`] when `max_queued` jobs are waiting already.
    pub(super) async fn write<T, F>(&self, job: F, flush: bool) -> Result<T, IngestError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, IngestError> + Send + 'static,
    {
        let place = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| IngestError::Overloaded { queued: self.max_queued })?;
        let (reply, answer) = oneshot::channel();
        let pending = Pending { job: Some(job), flush, result: None, reply, place };
        self.jobs
            .send(Box::new(pending))
            .map_err(|_| IngestError::Database("the writer thread has stopped".into()))?;
        answer.await.map_err(|_| IngestError::Database("the writer thread has stopped".into()))?
    }
}

fn write_loop(conn: &Connection, durability: Durability, queue: &mpsc::Receiver<Box<dyn Job>>) {
    let mut current = durability;
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // `synchronous` cannot change inside a transaction: choose it for the whole group.
        let wanted =
            if group.iter().any(|job| job.flush()) { durability } else { Durability::Normal };
        let committed =
            set_durability(conn, &mut current, wanted).and_then(|()| run_group(conn, &mut group));
        for job in group {
            job.finish(committed.clone());
        }
    }
}

/// Sets the connection's `synchronous` to `wanted` unless it is `current` already.
fn set_durability(
    conn: &Connection,
    current: &mut Durability,
    wanted: Durability,
) -> Result<(), String> {
    if *current != wanted {
        conn.pragma_update(None, "synchronous", wanted.pragma()).map_err(|e| e.to_string())?;
        *current = wanted;
    }
    Ok(())
}

fn run_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<(), String> {
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    run("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    for job in group.iter_mut() {
        job.run(conn);
    }
    run("COMMIT").map(drop).map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}
