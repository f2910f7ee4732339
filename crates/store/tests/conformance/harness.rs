//! Runs one conformance case against every backend, each time on a freshly opened store, and
//! reports every failing (backend, case) pair together.

use std::fmt::Debug;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use natsapi_core::promises::{CompletePromise, CreatePromise, ReadPromise};
use natsapi_core::{
    Code, DomainError, ManualClock, Operation, Promise, PromiseState, Reply, Value,
};
use natsapi_store::postgres::PostgresConfig;
use natsapi_store::{Store, StoreConfig};
use natsapi_testkit::{TestDatabase, TestSchema};
use tempfile::TempDir;

use crate::fixtures::{DEADLINE, T0};

/// A store backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Every backend.
pub const ALL: &[Backend] = &[Backend::Memory, Backend::Sqlite, Backend::Postgres];
/// Backends that persist to disk.
pub const DURABLE: &[Backend] = &[Backend::Sqlite, Backend::Postgres];

/// How many (case, backend) runs proceed at once: SQLite and PostgreSQL commits wait on fsync.
const PARALLEL_RUNS: usize = 8;

/// Connections each PostgreSQL store of a case opens: few, since cases run side by side.
const POSTGRES_POOL: usize = 4;

/// A fresh store of one backend with its own manual clock, starting at [`T0`].
pub struct Env {
    pub backend: Backend,
    pub clock: Arc<ManualClock>,
    pub store: Store,
    /// Where the store lives: a SQLite file's directory or a PostgreSQL database, removed when
    /// the env is dropped.
    place: Place,
}

/// Having a `Drop` keeps an `async move` block that uses some fields of an `Env` from capturing
/// only those (the others, its database among them, would be dropped while the case runs). The
/// fields then drop in their order: the store closes before its database goes.
impl Drop for Env {
    fn drop(&mut self) {}
}

/// A store's database, removed when dropped.
pub enum Place {
    /// Nothing to remove.
    Memory,
    /// The directory of a SQLite file.
    Sqlite(TempDir),
    /// A schema of the case's own in the table's database.
    Postgres(Box<PostgresPlace>),
}

/// A case's schema, and the table's database, kept until its last case is done.
pub struct PostgresPlace {
    schema: TestSchema,
    _database: Arc<TestDatabase>,
}

impl Place {
    fn create(backend: Backend, database: Option<Arc<TestDatabase>>) -> Place {
        match backend {
            Backend::Memory => Place::Memory,
            Backend::Sqlite => Place::Sqlite(TempDir::new().expect("create temp dir")),
            Backend::Postgres => {
                let database = database.expect("a table with PostgreSQL cases has a database");
                let schema = database.schema().unwrap_or_else(|e| panic!("create a schema: {e}"));
                Place::Postgres(Box::new(PostgresPlace { schema, _database: database }))
            }
        }
    }

    fn config(&self) -> StoreConfig {
        match self {
            Place::Memory => StoreConfig::memory(),
            Place::Sqlite(dir) => StoreConfig::sqlite(dir.path().join("store.db")),
            Place::Postgres(place) => StoreConfig::Postgres(PostgresConfig {
                url: place.schema.url().to_owned(),
                pool_size: POSTGRES_POOL,
                ..PostgresConfig::default()
            }),
        }
    }
}

impl Env {
    /// A fresh store of `backend`; PostgreSQL stores get a schema of their own in `database`.
    pub fn open(backend: Backend, database: Option<Arc<TestDatabase>>) -> Env {
        let clock = Arc::new(ManualClock::new(T0));
        let place = Place::create(backend, database);
        let store = open_store(backend, &place, &clock);
        Env { backend, clock, store, place }
    }

    /// Closes the store (dropping the last handle joins the writer threads) and opens the same
    /// database again. Memory backends have nothing to reopen.
    pub fn reopen(mut self) -> Env {
        assert!(DURABLE.contains(&self.backend), "only a durable store can be reopened");
        // An in-memory store stands in while the old one closes.
        let closing = Store::open(&StoreConfig::memory(), self.clock.clone()).expect("memory");
        drop(std::mem::replace(&mut self.store, closing));
        self.store = open_store(self.backend, &self.place, &self.clock);
        self
    }

    /// Another store on the same database, as a second instance of the server would open it
    /// (same clock); only for backends that allow several writers on one database.
    pub fn another_store(&self) -> Store {
        assert_eq!(self.backend, Backend::Postgres, "only PostgreSQL takes several stores");
        open_store(self.backend, &self.place, &self.clock)
    }

    /// Runs an operation; a store failure fails the case.
    pub async fn run<O: Operation>(&self, op: O) -> Reply<O::Output> {
        match self.store.run(op).await {
            Ok(reply) => reply,
            Err(e) => panic!("store failure: {e}"),
        }
    }

    pub async fn read(&self, id: &str) -> Reply<Promise> {
        self.run(ReadPromise { id: id.to_owned() }).await
    }

    /// Reads a promise that must exist and returns it.
    pub async fn get(&self, id: &str) -> Promise {
        match self.read(id).await {
            Ok(s) if s.code == Code::Ok => s.value,
            other => panic!("read {id:?}: expected 200, got {other:?}"),
        }
    }
}

fn open_store(backend: Backend, place: &Place, clock: &Arc<ManualClock>) -> Store {
    Store::open(&place.config(), clock.clone())
        .unwrap_or_else(|e| panic!("open {}: {e}", backend.name()))
}

/// Runs every operation on its own tokio task, all at once, handing them to `stores` in turn;
/// returns the replies in order. A store failure fails the case.
pub async fn all_at_once<O: Operation>(stores: &[&Store], ops: Vec<O>) -> Vec<Reply<O::Output>> {
    let tasks = ops.into_iter().enumerate().map(|(i, op)| {
        let store = stores[i % stores.len()].clone();
        tokio::spawn(async move { store.run(op).await })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task panicked").expect("store failure"))
        .collect()
}

/// Runs every row on a fresh store of every backend in `backends`, then fails with the list of
/// every (backend, row) that failed.
pub async fn table<R, F, Fut>(
    backends: &[Backend],
    rows: impl IntoIterator<Item = (String, R)>,
    case: F,
) where
    R: Clone,
    F: Fn(Env, R) -> Fut,
    Fut: Future<Output = ()>,
{
    let rows: Vec<(String, R)> = rows.into_iter().collect();
    assert!(!rows.is_empty(), "a table needs rows");
    // One database for the table, a schema in it for each case: creating and dropping a
    // database costs a checkpoint, a schema almost nothing.
    let database = backends.contains(&Backend::Postgres).then(|| {
        Arc::new(TestDatabase::create().unwrap_or_else(|e| panic!("create a database: {e}")))
    });
    let database = &database;
    let case = &case;
    let runs = rows.iter().flat_map(|(name, row)| {
        backends.iter().map(move |&backend| async move {
            let outcome = AssertUnwindSafe(async {
                // Opening a store blocks (migrations, fsync, connecting): keep the runtime free.
                let database = database.clone();
                let env = tokio::task::spawn_blocking(move || Env::open(backend, database))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                case(env, row.clone()).await;
            })
            .catch_unwind()
            .await;
            outcome.err().map(|p| {
                format!("[{}] {name}: {}", backend.name(), natsapi_store::panic_message(&*p))
            })
        })
    });
    let total = rows.len() * backends.len();
    let failures: Vec<String> = futures::stream::iter(runs)
        .buffer_unordered(PARALLEL_RUNS)
        .filter_map(|f| async move { f })
        .collect()
        .await;
    if !failures.is_empty() {
        panic!("{} of {total} runs failed:\n{}", failures.len(), failures.join("\n"));
    }
}

/// Runs one case on a fresh store of every backend in `backends`.
pub async fn each<F, Fut>(backends: &[Backend], case: F)
where
    F: Fn(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    table(backends, [(String::from("case"), ())], |env, ()| case(env)).await;
}

/// The success of `reply`, which must carry `code`.
#[track_caller]
pub fn ok<T: Debug>(reply: Reply<T>, code: Code) -> T {
    match reply {
        Ok(s) if s.code == code => s.value,
        other => panic!("expected success {code:?}, got {other:?}"),
    }
}

/// The refusal in `reply`, which must carry `code`.
#[track_caller]
pub fn refused<T: Debug>(reply: Reply<T>, code: Code) -> DomainError {
    match reply {
        Err(e) if e.code == code => e,
        other => panic!("expected refusal {code:?}, got {other:?}"),
    }
}

/// Asserts two promises are equal in every field but the internal `sort_id`.
#[track_caller]
pub fn same(actual: &Promise, expected: &Promise) {
    let mut a = actual.clone();
    let mut e = expected.clone();
    a.sort_id = 0;
    e.sort_id = 0;
    assert_eq!(a, e, "promise differs from the expected one");
}

/// A create of `id` with no key, not strict, no param or tags, due at [`DEADLINE`].
pub fn create(id: &str) -> CreatePromise {
    CreatePromise {
        id: id.to_owned(),
        idempotency_key: None,
        strict: false,
        param: Value::default(),
        timeout: DEADLINE,
        tags: Default::default(),
    }
}

/// A complete of `id` to `state` with no key, not strict, no value.
pub fn complete(id: &str, state: PromiseState) -> CompletePromise {
    CompletePromise {
        id: id.to_owned(),
        idempotency_key: None,
        strict: false,
        state,
        value: Value::default(),
    }
}

/// The pending promise a bare [`create`] makes at `now`.
pub fn pending(id: &str, now: i64) -> Promise {
    Promise {
        id: id.to_owned(),
        state: PromiseState::Pending,
        param: Value::default(),
        value: Value::default(),
        timeout: DEADLINE,
        idempotency_key_for_create: None,
        idempotency_key_for_complete: None,
        tags: Default::default(),
        created_on: now,
        completed_on: None,
        sort_id: 0,
    }
}

/// `promise` as its timeout leaves it.
pub fn timed_out(promise: &Promise, state: PromiseState) -> Promise {
    Promise {
        state,
        value: Value::default(),
        idempotency_key_for_complete: None,
        completed_on: Some(promise.timeout),
        ..promise.clone()
    }
}

/// A string map from pairs.
pub fn map(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}
