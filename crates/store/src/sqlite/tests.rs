//! The SQLite backend's own mechanisms, driven directly: a group that replays its survivors when
//! one job fails after writing, reader threads that read a batch in one snapshot, and checkpoints
//! that run off the write path.

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

/// What a read job found: `None` when the reader handed it back unrun.
type Found = Option<Result<Option<Promise>, String>>;

/// A read attempt as the store queues it: runs `before` (if any) on the reader thread, then
/// looks promise `id` up, and reports what it found once delivered.
struct ReadProbe {
    id: String,
    before: Option<Box<dyn FnMut() + Send>>,
    found: Found,
    done: Sender<(String, Found)>,
}

impl Job for ReadProbe {
    fn run(&mut self, tx: &mut dyn Tx, _now: i64) -> bool {
        if let Some(before) = self.before.as_mut() {
            before();
        }
        self.found = Some(tx.promise(&self.id).map_err(|e| e.to_string()));
        false
    }

    fn deliver(self: Box<Self>, _committed: Result<(), StoreError>) {
        let _ = self.done.send((self.id, self.found));
    }
}

/// Queues a read of promise `id`, with `before` to run on the reader thread first.
fn submit_read(
    backend: &SqliteBackend,
    id: &str,
    before: Option<Box<dyn FnMut() + Send>>,
    done: &Sender<(String, Found)>,
) {
    let probe = ReadProbe { id: id.to_owned(), before, found: None, done: done.clone() };
    backend.submit_read(Box::new(probe));
}

/// Reads promise `id` on the backend's readers and waits for the answer.
fn read(backend: &SqliteBackend, id: &str) -> Option<Promise> {
    let (done, answers) = channel();
    submit_read(backend, id, None, &done);
    let (_, found) = answers.recv_timeout(Duration::from_secs(10)).expect("an answer");
    found.expect("the reader ran the read").expect("the read succeeded")
}

/// Inserts a promise from a connection of its own, as another process would.
fn insert_elsewhere(conn: &Connection, id: &str) {
    conn.execute("INSERT INTO promises (id, timeout, created_on) VALUES (?1, 1, 1)", [id]).unwrap();
}

#[test]
fn a_batch_of_reads_shares_one_snapshot_taken_after_all_of_them_arrived() {
    let dir = TempDir::new().unwrap();
    let config = SqliteConfig { readers: 1, ..config(&dir) };
    let backend = SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap();
    let other = Connection::open(&config.path).unwrap();
    insert_elsewhere(&other, "before");
    let (done, answers) = channel();
    // The only reader runs a batch of one that waits until the next batch is queued.
    let (started, reader_busy) = channel();
    let (release, hold) = channel::<()>();
    let gate = move || {
        started.send(()).unwrap();
        let _ = hold.recv();
    };
    submit_read(&backend, "gate", Some(Box::new(gate)), &done);
    reader_busy.recv_timeout(Duration::from_secs(10)).unwrap();
    submit_read(&backend, "early", None, &done);
    // The second read of the batch commits "during" from elsewhere just before it reads.
    let writer = Connection::open(&config.path).unwrap();
    submit_read(
        &backend,
        "during",
        Some(Box::new(move || insert_elsewhere(&writer, "during"))),
        &done,
    );
    submit_read(&backend, "during", None, &done);
    submit_read(&backend, "before", None, &done);
    // Committed after every read of the batch was submitted, before the batch began.
    insert_elsewhere(&other, "early");
    release.send(()).unwrap();
    let found: Vec<(String, bool)> = (0..5)
        .map(|_| {
            let (id, found) = answers.recv_timeout(Duration::from_secs(10)).unwrap();
            (id, found.expect("run").unwrap().is_some())
        })
        .collect();
    assert_eq!(
        found,
        [
            ("gate".into(), false),
            ("early".into(), true),
            ("during".into(), false),
            ("during".into(), false),
            ("before".into(), true)
        ],
        "the batch read the state of its first read, taken once all four were queued"
    );
    assert!(read(&backend, "during").is_some(), "the next batch sees the commit");
}

#[test]
fn a_read_sees_every_write_committed_before_it_was_submitted() {
    let dir = TempDir::new().unwrap();
    let backend = SqliteBackend::open(&config(&dir), Arc::new(ManualClock::new(NOW))).unwrap();
    let (committed, commits) = channel();
    let ids: Vec<String> = (0..200).map(|i| format!("p{i}")).collect();
    for id in &ids {
        backend.submit(Box::new(SizedInsert { id: id.clone(), size: 16, done: committed.clone() }));
        commits.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        assert!(read(&backend, id).is_some(), "{id} was committed before its read");
    }
    // All at once: the readers split them into batches.
    let (done, answers) = channel();
    for id in &ids {
        submit_read(&backend, id, None, &done);
    }
    let mut found: Vec<String> = (0..ids.len())
        .map(|_| answers.recv_timeout(Duration::from_secs(10)).unwrap())
        .filter(|(_, found)| matches!(found, Some(Ok(Some(_)))))
        .map(|(id, _)| id)
        .collect();
    found.sort_by_key(|id| id[1..].parse::<usize>().unwrap());
    assert_eq!(found, ids);
}

/// A job that inserts promise `id`, says it has, and keeps the writer (inside its open
/// transaction) until the test sends on the other end of `hold`.
struct HeldInsert {
    id: String,
    started: Sender<()>,
    hold: std::sync::mpsc::Receiver<()>,
    done: Sender<Result<(), StoreError>>,
}

impl Job for HeldInsert {
    fn run(&mut self, tx: &mut dyn Tx, _now: i64) -> bool {
        let failed = tx.insert_promise(&mut promise(&self.id, Vec::new())).is_err();
        let _ = self.started.send(());
        let _ = self.hold.recv();
        failed
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        let _ = self.done.send(committed);
    }
}

#[test]
fn reads_keep_working_while_the_writer_holds_a_long_transaction() {
    let dir = TempDir::new().unwrap();
    let backend = SqliteBackend::open(&config(&dir), Arc::new(ManualClock::new(NOW))).unwrap();
    let (committed, commits) = channel();
    backend.submit(Box::new(SizedInsert { id: "before".into(), size: 16, done: committed }));
    commits.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    let (started, writing) = channel();
    let (release, hold) = channel();
    let (done, held_done) = channel();
    backend.submit(Box::new(HeldInsert { id: "held".into(), started, hold, done }));
    writing.recv_timeout(Duration::from_secs(10)).unwrap();
    for _ in 0..20 {
        assert!(read(&backend, "before").is_some());
        assert!(read(&backend, "held").is_none(), "the held write is not committed yet");
    }
    release.send(()).unwrap();
    held_done.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert!(read(&backend, "held").is_some());
}

/// A read attempt that turns out to need a write, and reports what that write came to.
struct WritingRead {
    attempted: Option<Result<bool, TxError>>,
    done: Sender<Option<Result<bool, TxError>>>,
}

impl Job for WritingRead {
    fn run(&mut self, tx: &mut dyn Tx, _now: i64) -> bool {
        self.attempted = Some(tx.insert_promise(&mut promise("w", Vec::new())));
        false
    }

    fn deliver(self: Box<Self>, _committed: Result<(), StoreError>) {
        let _ = self.done.send(self.attempted);
    }
}

#[test]
fn a_write_on_a_reader_is_refused_as_needing_the_writer() {
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let backend = SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap();
    let (done, attempts) = channel();
    backend.submit_read(Box::new(WritingRead { attempted: None, done }));
    let attempted = attempts.recv_timeout(Duration::from_secs(10)).unwrap().expect("it ran");
    assert!(attempted.is_err_and(|e| e.is_needs_write()));
    assert!(stored_ids(&config.path).is_empty());
}

#[tokio::test]
async fn a_read_that_needs_to_write_runs_again_on_the_writer() {
    use natsapi_core::promises::{CreatePromise, ReadPromise};
    let dir = TempDir::new().unwrap();
    let config = config(&dir);
    let clock = Arc::new(ManualClock::new(NOW));
    let store =
        crate::Store::open(&crate::StoreConfig::Sqlite(config.clone()), clock.clone()).unwrap();
    let create = CreatePromise {
        id: "p".into(),
        idempotency_key: None,
        strict: false,
        param: Value::default(),
        timeout: NOW + 10,
        tags: Default::default(),
    };
    store.run(create).await.unwrap().unwrap();
    let read = || store.run(ReadPromise { id: "p".into() });
    assert_eq!(read().await.unwrap().unwrap().value.state, PromiseState::Pending);
    // Due: reading times the promise out, a write the readers cannot make.
    clock.set(NOW + 10);
    let timed_out = read().await.unwrap().unwrap().value;
    assert_eq!(timed_out.state, PromiseState::RejectedTimedout);
    let stored: i64 = Connection::open(&config.path)
        .unwrap()
        .query_row("SELECT state FROM promises WHERE id = 'p'", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, 1, "the writer stored the timeout (1 is pending)");
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
                read(&backend, "p0");
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

#[test]
fn held_readers_take_at_most_max_queued_reads_and_refuse_the_next_at_once() {
    let dir = TempDir::new().unwrap();
    let config = SqliteConfig { max_queued: 3, readers: 1, ..config(&dir) };
    let backend = SqliteBackend::open(&config, Arc::new(ManualClock::new(NOW))).unwrap();
    let (release, hold) = channel();
    let (delivered, outcomes) = channel();
    let gated = |id, hold| Box::new(Gated { id, hold, delivered: delivered.clone() });
    backend.submit_read(gated(0, Some(hold)));
    backend.submit_read(gated(1, None));
    backend.submit_read(gated(2, None));
    backend.submit_read(gated(3, None));
    let (id, refused) = outcomes.try_recv().expect("the fourth read is answered at once");
    assert_eq!(id, 3);
    assert!(refused.unwrap_err().contains("overloaded"));
    // The writer has places of its own.
    backend.submit(gated(4, None));
    assert_eq!(outcomes.recv_timeout(Duration::from_secs(10)).unwrap(), (4, Ok(())));
    assert!(outcomes.try_recv().is_err(), "no read is answered while the reader is held");

    release.send(()).unwrap();
    let mut done: Vec<_> =
        (0..3).map(|_| outcomes.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
    done.sort_by_key(|(id, _)| *id);
    assert_eq!(done, (0..3).map(|id| (id, Ok(()))).collect::<Vec<_>>());
    backend.submit_read(gated(5, None));
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
