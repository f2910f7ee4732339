//! Two writers of one PostgreSQL store that lock two rows in opposite orders deadlock; the store's
//! watchdog breaks the cycle at once (not after PostgreSQL's `deadlock_timeout`, nor after the
//! store's lock timeout), and both operations land, the loser after a rerun.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use natsapi_core::sql::SqlValue;
use natsapi_core::{ManualClock, Operation, Reply, Success, Tx, TxError};
use natsapi_store::postgres::PostgresConfig;
use natsapi_store::{Store, StoreConfig};
use natsapi_testkit::TestDatabase;

use crate::fixtures::T0;

/// How far the crossing has got: 1 once the first operation holds its first row, 2 once the
/// second holds its own.
#[derive(Default)]
struct Gate {
    step: Mutex<u8>,
    moved: Condvar,
}

impl Gate {
    fn reach(&self, step: u8) {
        *self.step.lock().unwrap_or_else(PoisonError::into_inner) = step;
        self.moved.notify_all();
    }

    /// Waits (at most 10 s, so a broken store fails the test instead of hanging it) for `step`.
    fn wait_for(&self, step: u8) {
        let guard = self.step.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .moved
            .wait_timeout_while(guard, Duration::from_secs(10), |at| *at < step)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Adds one to row `first`, then to row `second`. On its first run it lines up with the other
/// operation so that each holds its first row before taking its second; a rerun goes straight
/// through.
#[derive(Clone)]
struct Crossing {
    first: &'static str,
    second: &'static str,
    /// The step this operation announces once it holds `first`, and the one it waits for.
    announce: u8,
    wait: u8,
    gate: Arc<Gate>,
    runs: Arc<Mutex<u32>>,
}

impl Operation for Crossing {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        let first_run = {
            let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
            *runs += 1;
            *runs == 1
        };
        let add = "UPDATE t SET v = v + 1 WHERE k = $1";
        tx.execute(add, &[SqlValue::Text(self.first.into())])?;
        if first_run {
            self.gate.reach(self.announce);
            self.gate.wait_for(self.wait);
        }
        tx.execute(add, &[SqlValue::Text(self.second.into())])?;
        Ok(Ok(Success::ok(())))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_locking_rows_in_opposite_orders_are_untangled_at_once() {
    let database = TestDatabase::create().expect("create a database");
    let url = database.url().to_owned();
    let superuser = tokio::task::spawn_blocking({
        let (url, name) = (url.clone(), database.name().to_owned());
        move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            client
                .batch_execute(
                    "CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT); \
                                INSERT INTO t VALUES ('a', 0), ('b', 0)",
                )
                .expect("create the table");
            // Where the role may, PostgreSQL's own detector is put out of the way, so only the
            // watchdog can break the cycle in time.
            client
                .batch_execute(&format!("ALTER DATABASE {name} SET deadlock_timeout = '60s'"))
                .is_ok()
        }
    })
    .await
    .expect("setup panicked");

    let config = StoreConfig::Postgres(PostgresConfig {
        url: url.clone(),
        // Two writers, two readers.
        pool_size: 4,
        ..PostgresConfig::default()
    });
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&config, Arc::new(ManualClock::new(T0))).expect("open the store")
    })
    .await
    .expect("open panicked");

    let gate = Arc::new(Gate::default());
    let crossing = |first, second, announce, wait| Crossing {
        first,
        second,
        announce,
        wait,
        gate: gate.clone(),
        runs: Arc::default(),
    };
    let (a_then_b, b_then_a) = (crossing("a", "b", 1, 2), crossing("b", "a", 2, 0));
    let runs = [a_then_b.runs.clone(), b_then_a.runs.clone()];
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.run(a_then_b).await }
    });
    // The first writer is now busy with the first operation, so the second takes the other.
    let waiting = gate.clone();
    tokio::task::spawn_blocking(move || waiting.wait_for(1)).await.expect("wait panicked");
    let started = Instant::now();
    let second = tokio::spawn({
        let store = store.clone();
        async move { store.run(b_then_a).await }
    });
    for (name, joined) in [("a then b", first.await), ("b then a", second.await)] {
        let reply = joined.expect("task panicked").expect("store failure");
        assert!(reply.is_ok(), "{name}: {reply:?}");
    }
    let took = started.elapsed();

    let runs: Vec<u32> = runs.iter().map(|r| *r.lock().unwrap()).collect();
    // The winner ran once; the loser again, or twice when its rerun took its first row before
    // the winner (still waiting for it) and the two crossed once more.
    let mut sorted = runs.clone();
    sorted.sort_unstable();
    assert!(sorted[0] == 1 && (2..=3).contains(&sorted[1]), "one of the two ran again: {runs:?}");
    let rows = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let rows = client.query("SELECT k, v FROM t ORDER BY k", &[]).expect("read t");
        rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect::<Vec<_>>()
    })
    .await
    .expect("read panicked");
    assert_eq!(rows, [("a".to_owned(), 2), ("b".to_owned(), 2)], "both landed once");
    // The watchdog looks every 20 ms. Where PostgreSQL's own detector is out of the way, only
    // the store's lock timeout (5 s) would end the wait otherwise; elsewhere the detector would
    // after 1 s.
    let bound = if superuser { Duration::from_secs(4) } else { Duration::from_millis(900) };
    assert!(took < bound, "the deadlock lasted {took:?}");
    drop(store);
}
