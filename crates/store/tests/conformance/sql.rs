//! Plain SQL in the store's transaction (`natsapi_core::SqlTx`): one portable statement text on
//! SQLite and PostgreSQL, `$n` parameters bound by number, values that round-trip, writes that
//! commit with the operation or not at all, reads on the read path that hand writes to the writer,
//! conflicts between two stores that rerun the operation, and the memory store's clear refusal.

use futures::future::join_all;
use natsapi_core::sql::{Dialect, SqlRow, SqlTx, SqlValue};
use natsapi_core::{Operation, Reply, Success, Tx, TxError};
use natsapi_store::{Store, StoreError};

use crate::harness::{Backend, Env, each};

const DATABASES: &[Backend] = &[Backend::Sqlite, Backend::Postgres];

/// What a [`Sql`] operation runs: plain SQL with its arguments.
type Body<T> = fn(&mut dyn SqlTx, &[SqlValue]) -> Result<T, TxError>;

/// An operation running `body`; with `read` set, the store may try it on the read path first.
struct Sql<T> {
    body: Body<T>,
    args: Vec<SqlValue>,
    read: bool,
}

impl<T> Clone for Sql<T> {
    fn clone(&self) -> Self {
        Sql { body: self.body, args: self.args.clone(), read: self.read }
    }
}

impl<T: Send + 'static> Operation for Sql<T> {
    type Output = T;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<T>, TxError> {
        (self.body)(tx, &self.args).map(|value| Ok(Success::ok(value)))
    }

    fn read_attempt(&self) -> Option<Self> {
        self.read.then(|| self.clone())
    }
}

/// Runs `body` on the write path.
fn write<T>(body: Body<T>, args: Vec<SqlValue>) -> Sql<T> {
    Sql { body, args, read: false }
}

/// Runs `body`, on the read path first.
fn read<T>(body: Body<T>, args: Vec<SqlValue>) -> Sql<T> {
    Sql { body, args, read: true }
}

/// The reply's value; a store failure or refusal fails the case.
async fn run<T: Send + 'static>(store: &Store, op: Sql<T>) -> T {
    match store.run(op).await {
        Ok(Ok(success)) => success.value,
        Ok(Err(refusal)) => panic!("refused: {refusal}"),
        Err(e) => panic!("store failure: {e}"),
    }
}

/// The store's error for `op`, which must fail.
async fn failure<T: Send + 'static>(store: &Store, op: Sql<T>) -> StoreError {
    match store.run(op).await {
        Ok(_) => panic!("expected a store failure"),
        Err(e) => e,
    }
}

/// A table `v` with a column of every kind, in the dialect's types.
fn create_values(tx: &mut dyn SqlTx, _: &[SqlValue]) -> Result<(), TxError> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "CREATE TABLE v (k TEXT PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, f INTEGER, \
             n TEXT)"
        }
        Dialect::Postgres => {
            "CREATE TABLE v (k TEXT PRIMARY KEY, i BIGINT, r DOUBLE PRECISION, t TEXT, b BYTEA, \
             f BOOLEAN, n TEXT)"
        }
    };
    tx.execute(sql, &[]).map(drop)
}

/// The rows of `v`, by key.
fn all_values(tx: &mut dyn SqlTx, _: &[SqlValue]) -> Result<Vec<SqlRow>, TxError> {
    tx.query("SELECT k, i, r, t, b, f, n FROM v ORDER BY k", &[])
}

/// How many rows `v` has.
fn count_values(tx: &mut dyn SqlTx, _: &[SqlValue]) -> Result<i64, TxError> {
    let rows = tx.query("SELECT COUNT(*) FROM v", &[])?;
    Ok(rows.first().and_then(|row| row.first()).and_then(SqlValue::as_i64).unwrap_or(-1))
}

/// Inserts `args` (key, integer) into `v`.
fn insert_value(tx: &mut dyn SqlTx, args: &[SqlValue]) -> Result<u64, TxError> {
    tx.execute("INSERT INTO v (k, i) VALUES ($1, $2)", args)
}

async fn with_values(env: &Env) {
    run(&env.store, write(create_values, vec![])).await;
}

#[tokio::test]
async fn values_of_every_kind_round_trip_through_one_statement_text() {
    each(DATABASES, |env| async move {
        with_values(&env).await;
        let args = vec![
            SqlValue::Int(-(1 << 40)),
            SqlValue::Real(2.5),
            SqlValue::Text("héllo 'quoted'".into()),
            SqlValue::Bytes(vec![0, 1, 255]),
            SqlValue::Bool(true),
            SqlValue::Null,
            SqlValue::Text("a".into()),
        ];
        // Placeholders out of order, one of them twice.
        let insert: Body<u64> = |tx, args| {
            tx.execute(
                "INSERT INTO v (n, t, k, i, r, b, f) VALUES ($6, $3, $7, $1, $2, $4, $5)",
                args,
            )?;
            tx.execute(
                "UPDATE v SET i = $1 WHERE k = $2 AND i = $1",
                &[args[0].clone(), args[6].clone()],
            )
        };
        assert_eq!(run(&env.store, write(insert, args.clone())).await, 1);
        let rows = run(&env.store, read(all_values, vec![])).await;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row[0], SqlValue::Text("a".into()));
        assert_eq!(row[1], args[0]);
        assert_eq!(row[2], args[1]);
        assert_eq!(row[3], args[2]);
        assert_eq!(row[4], args[3]);
        assert_eq!(row[5].as_bool(), Some(true), "{:?}", row[5]);
        assert_eq!(row[6], SqlValue::Null);
    })
    .await;
}

#[tokio::test]
async fn execute_counts_the_rows_it_changed_and_upserts_are_portable() {
    each(DATABASES, |env| async move {
        with_values(&env).await;
        for (k, i) in [("a", 1), ("b", 2), ("c", 3)] {
            let inserted = run(&env.store, write(insert_value, vec![k.into(), i.into()])).await;
            assert_eq!(inserted, 1);
        }
        let update: Body<u64> = |tx, args| tx.execute("UPDATE v SET t = 'x' WHERE i > $1", args);
        assert_eq!(run(&env.store, write(update, vec![1.into()])).await, 2);
        let ignore: Body<u64> = |tx, args| {
            tx.execute("INSERT INTO v (k, i) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING", args)
        };
        assert_eq!(run(&env.store, write(ignore, vec!["a".into(), 9.into()])).await, 0);
        let upsert: Body<u64> = |tx, args| {
            tx.execute(
                "INSERT INTO v (k, t) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE \
                 SET t = excluded.t WHERE v.t IS NULL OR v.t <> excluded.t",
                args,
            )
        };
        assert_eq!(run(&env.store, write(upsert, vec!["a".into(), "y".into()])).await, 1);
        assert_eq!(run(&env.store, write(upsert, vec!["a".into(), "y".into()])).await, 0);
        let returning: Body<Vec<SqlRow>> =
            |tx, args| tx.query("DELETE FROM v WHERE i >= $1 RETURNING k", args);
        let mut deleted = run(&env.store, write(returning, vec![2.into()])).await;
        deleted.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
        assert_eq!(deleted, vec![vec![SqlValue::from("b")], vec![SqlValue::from("c")]]);
        assert_eq!(run(&env.store, read(count_values, vec![])).await, 1);
    })
    .await;
}

/// What a write on the read path came to.
fn try_write_on_read(tx: &mut dyn SqlTx, args: &[SqlValue]) -> Result<&'static str, TxError> {
    let result = match args[0].as_str() {
        Some("execute") => tx.execute("INSERT INTO v (k) VALUES ('r')", &[]).map(drop),
        Some("returning") => tx.query("INSERT INTO v (k) VALUES ('r') RETURNING k", &[]).map(drop),
        _ => tx.query("SELECT COUNT(*) FROM v", &[]).map(drop),
    };
    match result {
        Ok(()) => Ok("ran"),
        Err(e) if e.is_needs_write() => Ok("needs the writer"),
        Err(e) => Err(e),
    }
}

#[tokio::test]
async fn a_write_on_the_read_path_asks_for_the_writer_and_writes_nothing() {
    each(DATABASES, |env| async move {
        with_values(&env).await;
        for how in ["execute", "returning"] {
            let answer = run(&env.store, read(try_write_on_read, vec![how.into()])).await;
            assert_eq!(answer, "needs the writer", "{how}");
        }
        assert_eq!(run(&env.store, read(try_write_on_read, vec!["select".into()])).await, "ran");
        assert_eq!(run(&env.store, read(count_values, vec![])).await, 0);
        // Propagated, the request makes the store run the operation on the writer: once.
        let insert_on_read: Body<u64> = |tx, _| tx.execute("INSERT INTO v (k) VALUES ('w')", &[]);
        assert_eq!(run(&env.store, read(insert_on_read, vec![])).await, 1);
        let returning: Body<usize> =
            |tx, _| tx.query("INSERT INTO v (k) VALUES ('x') RETURNING k", &[]).map(|r| r.len());
        assert_eq!(run(&env.store, read(returning, vec![])).await, 1);
        assert_eq!(run(&env.store, read(count_values, vec![])).await, 2);
    })
    .await;
}

#[tokio::test]
async fn a_read_that_writes_through_a_function_is_refused_by_a_postgres_read_session() {
    each(&[Backend::Postgres], |env| async move {
        let sequence: Body<()> = |tx, _| tx.execute("CREATE SEQUENCE s", &[]).map(drop);
        run(&env.store, write(sequence, vec![])).await;
        let next: Body<i64> = |tx, _| {
            let rows = tx.query("SELECT nextval('s')", &[])?;
            Ok(rows[0][0].as_i64().unwrap_or(-1))
        };
        // On the read path the server refuses the write; on the writer it runs once.
        assert_eq!(run(&env.store, read(next, vec![])).await, 1);
        assert_eq!(run(&env.store, write(next, vec![])).await, 2);
    })
    .await;
}

/// Inserts `args[0]`, then fails when `args[1]` says so.
fn insert_then_maybe_fail(tx: &mut dyn SqlTx, args: &[SqlValue]) -> Result<(), TxError> {
    tx.execute("INSERT INTO v (k) VALUES ($1)", &args[..1])?;
    if args[1].as_bool() == Some(true) {
        return Err(TxError::msg("injected failure"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_operation_leaves_no_sql_writes_and_its_neighbours_keep_theirs() {
    each(DATABASES, |env| async move {
        with_values(&env).await;
        let ops = (0..48).map(|i| {
            let store = env.store.clone();
            async move {
                let fail = i % 6 == 1;
                let op = write(insert_then_maybe_fail, vec![format!("k{i}").into(), fail.into()]);
                (fail, store.run(op).await)
            }
        });
        for (fail, reply) in join_all(ops).await {
            if fail {
                assert!(matches!(reply, Err(StoreError::Tx(_))), "{reply:?}");
            } else {
                assert!(matches!(reply, Ok(Ok(_))), "{reply:?}");
            }
        }
        assert_eq!(run(&env.store, read(count_values, vec![])).await, 40);
    })
    .await;
}

#[tokio::test]
async fn bad_statements_and_parameters_fail_the_operation_and_the_store_goes_on() {
    each(DATABASES, |env| async move {
        with_values(&env).await;
        let syntax: Body<u64> = |tx, _| tx.execute("INSERT INTO v VALUS (1)", &[]);
        let e = failure(&env.store, write(syntax, vec![])).await;
        assert!(matches!(e, StoreError::Tx(_)), "{e}");
        let e = failure(&env.store, write(insert_value, vec!["a".into()])).await;
        let text = e.to_string();
        assert!(text.contains("values were given") && text.contains("parameter $"), "{text}");
        let question: Body<u64> = |tx, args| tx.execute("INSERT INTO v (k) VALUES (?)", args);
        if env.backend == Backend::Sqlite {
            let e = failure(&env.store, write(question, vec!["a".into()])).await;
            assert!(e.to_string().contains("placeholders"), "{e}");
        }
        let missing: Body<Vec<SqlRow>> = |tx, _| tx.query("SELECT * FROM missing", &[]);
        assert!(matches!(failure(&env.store, read(missing, vec![])).await, StoreError::Tx(_)));
        // Nothing stuck: the next operations run.
        assert_eq!(run(&env.store, write(insert_value, vec!["a".into(), 1.into()])).await, 1);
        assert_eq!(run(&env.store, read(count_values, vec![])).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_postgres_parameter_is_converted_to_the_type_the_server_wants_or_refused_by_name() {
    each(&[Backend::Postgres], |env| async move {
        let create: Body<()> = |tx, _| {
            tx.execute("CREATE TABLE p (s SMALLINT, i INTEGER, j JSONB, u UUID)", &[]).map(drop)
        };
        run(&env.store, write(create, vec![])).await;
        let insert: Body<u64> =
            |tx, args| tx.execute("INSERT INTO p (s, i, j, u) VALUES ($1, $2, $3, $4)", args);
        let good = vec![7.into(), (-8).into(), r#"{"a": [1]}"#.into(), SqlValue::Null];
        assert_eq!(run(&env.store, write(insert, good)).await, 1);
        let too_big = vec![70_000.into(), 1.into(), SqlValue::Null, SqlValue::Null];
        let e = failure(&env.store, write(insert, too_big)).await.to_string();
        assert!(e.contains("parameter $1") && e.contains("out of range for int2"), "{e}");
        let uuid = vec![1.into(), 1.into(), SqlValue::Null, "not cast".into()];
        let e = failure(&env.store, write(insert, uuid)).await.to_string();
        assert!(e.contains("parameter $4") && e.contains("uuid"), "{e}");
        let cast: Body<u64> =
            |tx, args| tx.execute("INSERT INTO p (u) VALUES ($1::text::uuid)", args);
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(run(&env.store, write(cast, vec![id.into()])).await, 1);
        let back: Body<Vec<SqlRow>> =
            |tx, _| tx.query("SELECT s, i, j, u::text FROM p ORDER BY s NULLS LAST", &[]);
        let rows = run(&env.store, read(back, vec![])).await;
        assert_eq!(rows[0][..3], [7.into(), (-8).into(), r#"{"a": [1]}"#.into()]);
        assert_eq!(rows[1][3], id.into());
        let uncast: Body<Vec<SqlRow>> = |tx, _| tx.query("SELECT u FROM p", &[]);
        let e = failure(&env.store, read(uncast, vec![])).await.to_string();
        assert!(e.contains("cannot read a uuid column"), "{e}");
    })
    .await;
}

/// Inserts key `args[0]` unless a row has it: answers whether this run inserted.
fn insert_if_absent(tx: &mut dyn SqlTx, args: &[SqlValue]) -> Result<bool, TxError> {
    let found = tx.query("SELECT k FROM v WHERE k = $1", args)?;
    if !found.is_empty() {
        return Ok(false);
    }
    tx.execute("INSERT INTO v (k) VALUES ($1)", args)?;
    Ok(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_key_taken_by_another_store_reruns_the_operation() {
    each(&[Backend::Postgres], |env| async move {
        with_values(&env).await;
        let other = env.another_store();
        for n in 0..10 {
            let key = SqlValue::from(format!("k{n}"));
            let tasks = (0..12).map(|i| {
                let store = if i % 2 == 0 { env.store.clone() } else { other.clone() };
                let op = write(insert_if_absent, vec![key.clone()]);
                tokio::spawn(async move { run(&store, op).await })
            });
            let inserted: Vec<bool> =
                join_all(tasks).await.into_iter().map(|t| t.expect("task")).collect();
            assert_eq!(inserted.iter().filter(|&&i| i).count(), 1, "{inserted:?}");
        }
        assert_eq!(run(&env.store, read(count_values, vec![])).await, 10);
    })
    .await;
}

#[tokio::test]
async fn the_memory_store_refuses_sql_clearly() {
    each(&[Backend::Memory], |env| async move {
        for op in [write(create_values, vec![]), read(create_values, vec![])] {
            let e = failure(&env.store, op).await.to_string();
            assert!(e.contains("the memory store keeps no SQL tables"), "{e}");
        }
        let e = failure(&env.store, read(count_values, vec![])).await.to_string();
        assert!(e.contains("the memory store keeps no SQL tables"), "{e}");
    })
    .await;
}
