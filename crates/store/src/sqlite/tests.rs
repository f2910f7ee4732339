//! The SQLite backend's own mechanisms, driven directly: a group that replays its survivors when
//! one job fails after writing, read scopes that share one snapshot, and checkpoints that run
//! off the write path.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natsapi_core::{Clock, ManualClock, Promise, PromiseState, Tx, TxError, Value};
use rusqlite::Connection;
use tempfile::TempDir;

use super::{SqliteBackend, SqliteConfig, connection, writer};
use crate::delivery::Delivery;
use crate::error::StoreError;
use crate::job::Backend as _;
use crate::job::{BoxJob, Job};

const NOW: i64 = 1_700_000_000_000;

fn promise(id: &str, data: Vec<u8>) -> Promise {
    Promise {
        id: id.to_owned(),
        state: PromiseState::Pending,
        param: Value { headers: Default::default(), data },
        value: Value::default(),
        timeout: i64::MAX,
        idempotency_key_for_create: None,
        idempotency_key_for_complete: None,
        tags: Default::default(),
        created_on: NOW,
        completed_on: None,
        sort_id: 0,
    }
}

/// One job's id, how many times it ran, and what its caller was told.
type Entry = (String, usize, Result<(), String>);

/// Every delivered job's entry.
type Log = Arc<Mutex<Vec<Entry>>>;

/// What a test job does on each of its runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    Insert,
    InsertThenFail,
    FailBeforeWriting,
}

/// A job that follows `steps` (its last step repeats) and records its runs and its outcome.
struct ScriptedJob {
    id: String,
    steps: Vec<Step>,
    runs: usize,
    failed: bool,
    log: Log,
}

impl Job for ScriptedJob {
    fn run(&mut self, tx: &mut dyn Tx, _now: i64) -> bool {
        let step = self.steps[self.runs.min(self.steps.len() - 1)];
        self.runs += 1;
        let outcome: Result<(), TxError> = match step {
            Step::Insert => tx.insert_promise(&mut promise(&self.id, Vec::new())).map(|_| ()),
            Step::InsertThenFail => tx
                .insert_promise(&mut promise(&self.id, Vec::new()))
                .and_then(|_| Err(TxError::msg("injected"))),
            Step::FailBeforeWriting => Err(TxError::msg("injected")),
        };
        self.failed = outcome.is_err();
        self.failed
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        record(&self.log, &self.id, self.runs, self.failed, committed);
    }
}

/// Records what a test job's caller was told: its own failure, else the commit's outcome.
fn record(log: &Log, id: &str, runs: usize, failed: bool, committed: Result<(), StoreError>) {
    let result =
        if failed { Err("failed".to_owned()) } else { committed.map_err(|e| e.to_string()) };
    log.lock().unwrap().push((id.to_owned(), runs, result));
}

fn queue(jobs: &Sender<BoxJob>, log: &Log, id: &str, steps: &[Step]) {
    let job = ScriptedJob {
        id: id.to_owned(),
        steps: steps.to_vec(),
        runs: 0,
        failed: false,
        log: log.clone(),
    };
    jobs.send(Box::new(job)).unwrap();
}

fn stored_ids(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM promises ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Runs the queued jobs as one group and returns each job's (runs, outcome), by id.
fn run_as_one_group(conn: &Connection, queued: impl FnOnce(&Sender<BoxJob>, &Log)) -> Vec<Entry> {
    let (jobs, receiver) = channel();
    let log = Log::default();
    queued(&jobs, &log);
    let first = receiver.recv().unwrap();
    let clock = ManualClock::new(NOW);
    let group = writer::run_group(conn, first, &receiver, &clock as &dyn Clock, 512)
        .expect("the transaction began");
    Delivery::Direct.release(group);
    let mut log = log.lock().unwrap().clone();
    log.sort();
    log
}

fn config(dir: &TempDir) -> SqliteConfig {
    SqliteConfig { path: dir.path().join("t.db"), ..SqliteConfig::default() }
}

#[test]
fn a_job_failing_after_writing_is_undone_and_its_group_runs_again_without_it() {
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let conn = connection::open_writer(&config).unwrap();
    let log = run_as_one_group(&conn, |jobs, log| {
        queue(jobs, log, "a", &[Step::Insert]);
        queue(jobs, log, "b", &[Step::InsertThenFail]);
        queue(jobs, log, "c", &[Step::FailBeforeWriting]);
        queue(jobs, log, "d", &[Step::Insert]);
    });
    assert_eq!(
        log,
        vec![
            ("a".into(), 2, Ok(())),
            ("b".into(), 1, Err("failed".into())),
            ("c".into(), 1, Err("failed".into())),
            ("d".into(), 1, Ok(())),
        ],
        "a ran again after b's rollback; c wrote nothing, so nothing was replayed for it"
    );
    assert_eq!(stored_ids(&config.path), ["a", "d"]);
}

#[test]
fn a_job_that_fails_when_replayed_is_dropped_from_the_group_too() {
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let conn = connection::open_writer(&config).unwrap();
    let log = run_as_one_group(&conn, |jobs, log| {
        queue(jobs, log, "a", &[Step::Insert]);
        queue(jobs, log, "flaky", &[Step::Insert, Step::InsertThenFail]);
        queue(jobs, log, "z", &[Step::Insert]);
        queue(jobs, log, "bad", &[Step::InsertThenFail]);
    });
    assert_eq!(
        log,
        vec![
            ("a".into(), 3, Ok(())),
            ("bad".into(), 1, Err("failed".into())),
            ("flaky".into(), 2, Err("failed".into())),
            ("z".into(), 2, Ok(())),
        ]
    );
    assert_eq!(stored_ids(&config.path), ["a", "z"]);
}

/// Reads promise `id` through the backend's read path.
fn read(backend: &SqliteBackend, id: &str) -> Option<Promise> {
    let mut found = None;
    assert!(backend.read_inline(&mut |tx, _| found = tx.promise(id).unwrap()));
    found
}

#[test]
fn reads_in_a_scope_share_one_snapshot_and_the_next_scope_sees_new_writes() {
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let backend = SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap();
    let other = Connection::open(&config.path).unwrap();
    let insert = |id: &str| {
        other
            .execute("INSERT INTO promises (id, timeout, created_on) VALUES (?1, 1, 1)", [id])
            .unwrap();
    };
    insert("before");
    backend.read_scope(&mut || {
        // The snapshot is taken by the first read, so a commit made after the scope opened but
        // before that read is seen.
        insert("early");
        assert!(read(&backend, "early").is_some());
        assert!(read(&backend, "before").is_some());
        insert("during");
        assert!(read(&backend, "during").is_none(), "the scope reads its first snapshot");
    });
    assert!(read(&backend, "during").is_some(), "outside the scope, reads see the commit");
    backend.read_scope(&mut || assert!(read(&backend, "during").is_some()));
}

#[test]
fn the_wal_is_checkpointed_into_the_database_once_it_is_large() {
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let backend = SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap();
    let db_len = || std::fs::metadata(&config.path).unwrap().len();
    let copied = db_len() + 4 * 1024 * 1024;
    // 150 promises of 40 KiB: about 1,500 pages, past the checkpoint threshold.
    let (done, finished) = channel();
    for i in 0..150 {
        backend.submit(Box::new(BigInsert { id: format!("p{i}"), done: done.clone() }));
    }
    for _ in 0..150 {
        finished.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while db_len() < copied && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(db_len() >= copied, "the checkpoint copied the WAL into the database file");
}

/// Inserts a promise with 40 KiB of data and reports whether it committed.
struct BigInsert {
    id: String,
    done: Sender<Result<(), StoreError>>,
}

impl Job for BigInsert {
    fn run(&mut self, tx: &mut dyn Tx, _now: i64) -> bool {
        tx.insert_promise(&mut promise(&self.id, vec![7; 40 * 1024])).is_err()
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        let _ = self.done.send(committed);
    }
}

#[tokio::test]
async fn a_store_opened_on_a_runtime_releases_each_group_from_a_task_on_it() {
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let backend = SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap();
    let (done, finished) = channel();
    for i in 0..20 {
        backend.submit(Box::new(BigInsert { id: format!("p{i}"), done: done.clone() }));
    }
    // The groups come back through the runtime: wait without blocking it.
    let outcomes = tokio::task::spawn_blocking(move || {
        (0..20).map(|_| finished.recv_timeout(Duration::from_secs(10)).unwrap()).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(stored_ids(&config.path).len(), 20);
}

#[test]
fn the_wal_starts_over_under_writes_that_never_pause_while_readers_come_and_go() {
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let backend = Arc::new(SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (backend, stop) = (backend.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                backend.read_scope(&mut || {
                    read(&backend, "p0");
                });
            }
        })
    };
    // Waves of 64 writes, each sent as the previous one commits, as clients with 64 requests
    // in flight do: about 16,000 frames in all.
    let (done, finished) = channel();
    for wave in 0..100 {
        for i in 0..64 {
            let id = format!("p{wave}-{i}");
            backend.submit(Box::new(SizedInsert { id, size: 6_000, done: done.clone() }));
        }
        for _ in 0..64 {
            finished.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
    let wal = std::fs::metadata(config.path.with_extension("db-wal")).unwrap().len();
    // The limit, plus room for the groups that commit while the WAL is being restarted.
    let bound = 6_000 * 4_096;
    assert!(wal < bound, "the WAL grew to {wal} bytes (bound {bound})");
}

/// Inserts a promise with `size` bytes of data and reports whether it committed.
struct SizedInsert {
    id: String,
    size: usize,
    done: Sender<Result<(), StoreError>>,
}

impl Job for SizedInsert {
    fn run(&mut self, tx: &mut dyn Tx, _now: i64) -> bool {
        tx.insert_promise(&mut promise(&self.id, vec![7; self.size])).is_err()
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        let _ = self.done.send(committed);
    }
}

/// A job that reports its delivery; with `hold`, it keeps the writer inside its run until the
/// test sends on the other end.
struct Gated {
    id: usize,
    hold: Option<std::sync::mpsc::Receiver<()>>,
    delivered: Sender<(usize, Result<(), String>)>,
}

impl Job for Gated {
    fn run(&mut self, _tx: &mut dyn Tx, _now: i64) -> bool {
        if let Some(hold) = &self.hold {
            let _ = hold.recv();
        }
        false
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        let _ = self.delivered.send((self.id, committed.map_err(|e| e.to_string())));
    }
}

#[test]
fn a_held_writer_takes_at_most_max_queued_jobs_and_refuses_the_next_at_once() {
    let dir = TempDir::new().unwrap();
    let config = SqliteConfig { max_queued: 4, ..config(&dir) };
    let backend = SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap();
    let (release, hold) = channel();
    let (delivered, outcomes) = channel();
    let gated = |id, hold| Box::new(Gated { id, hold, delivered: delivered.clone() });
    backend.submit(gated(0, Some(hold)));
    for id in 1..4 {
        backend.submit(gated(id, None));
    }
    // Every place is taken while the writer is held: the fifth is answered at once.
    backend.submit(gated(4, None));
    let (id, refused) = outcomes.try_recv().expect("the fifth job is answered at once");
    assert_eq!(id, 4);
    let refused = refused.unwrap_err();
    assert!(refused.contains("overloaded (4 writes are waiting)"), "{refused}");
    assert!(outcomes.try_recv().is_err(), "nothing else is answered while the writer is held");

    release.send(()).unwrap();
    let mut done: Vec<_> =
        (0..4).map(|_| outcomes.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
    done.sort_by_key(|(id, _)| *id);
    assert_eq!(done, (0..4).map(|id| (id, Ok(()))).collect::<Vec<_>>());
    // Their places are free again.
    backend.submit(gated(5, None));
    assert_eq!(outcomes.recv_timeout(Duration::from_secs(10)).unwrap(), (5, Ok(())));
}

/// A job that runs a domain operation and records, like a test job, how often it ran.
struct OperationJob<O> {
    id: String,
    op: O,
    runs: usize,
    failed: bool,
    log: Log,
}

impl<O: natsapi_core::Operation + Clone + Send + 'static> Job for OperationJob<O> {
    fn run(&mut self, tx: &mut dyn Tx, now: i64) -> bool {
        self.runs += 1;
        self.failed = !matches!(self.op.clone().apply(tx, now), Ok(Ok(_)));
        self.failed
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        record(&self.log, &self.id, self.runs, self.failed, committed);
    }
}

#[test]
fn a_write_whose_contents_are_over_the_reply_budget_is_refused_before_it_writes() {
    use natsapi_core::promises::CreatePromise;
    use natsapi_core::{Budgeted, ReplyBudget};
    let dir = TempDir::new().unwrap();
    let conn = connection::open_writer(&config(&dir)).unwrap();
    let log = run_as_one_group(&conn, |jobs, log| {
        queue(jobs, log, "a", &[Step::Insert]);
        let oversized = CreatePromise {
            id: "big".into(),
            idempotency_key: None,
            strict: false,
            param: Value { headers: Default::default(), data: vec![1; 8_192] },
            timeout: i64::MAX,
            tags: Default::default(),
        };
        let job = OperationJob {
            id: "big".into(),
            op: Budgeted { op: oversized, budget: ReplyBudget::new(4_096) },
            runs: 0,
            failed: false,
            log: log.clone(),
        };
        jobs.send(Box::new(job)).unwrap();
        queue(jobs, log, "c", &[Step::Insert]);
    });
    assert_eq!(
        log,
        vec![
            ("a".into(), 1, Ok(())),
            ("big".into(), 1, Err("failed".into())),
            ("c".into(), 1, Ok(()))
        ],
        "the refused create wrote nothing, so the group was not rolled back and run again"
    );
    assert_eq!(stored_ids(&dir.path().join("t.db")), vec!["a".to_owned(), "c".to_owned()]);
}
