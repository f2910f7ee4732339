//! Embedded migrations, tracked with SQLite's `user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::legacy;
use crate::error::{StoreError, cause};

/// How a migration is applied.
enum Step {
    /// Runs the SQL file.
    Sql(&'static str),
    /// Runs code that may adopt tables an earlier natsapi made (see [`legacy`]).
    Code(fn(&rusqlite::Transaction<'_>) -> Result<(), legacy::LegacyError>),
}

/// Migrations in order; the database's `user_version` counts how many are applied.
const MIGRATIONS: &[(&str, Step)] = &[
    ("0001_promises", Step::Sql(include_str!("../../migrations/sqlite/0001_promises.sql"))),
    ("0002_tasks", Step::Sql(include_str!("../../migrations/sqlite/0002_tasks.sql"))),
    (
        "0003_schedules_locks",
        Step::Sql(include_str!("../../migrations/sqlite/0003_schedules_locks.sql")),
    ),
    ("0004_messages", Step::Code(legacy::messages)),
    ("0005_rpclog", Step::Sql(include_str!("../../migrations/sqlite/0005_rpclog.sql"))),
];

/// Applies every migration the database does not have yet. Each runs in an immediate
/// transaction that re-reads the version under the write lock, so processes starting together on
/// one file apply each migration once.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let open = |e: rusqlite::Error| StoreError::Migration {
        migration: "(version check)",
        source: cause(e),
    };
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open)?;
        let applied: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(open)?;
        if applied > known {
            return Err(StoreError::SchemaTooNew { found: applied, known });
        }
        let Some((name, step)) = MIGRATIONS.get(applied as usize) else {
            return Ok(());
        };
        let failed = |e| StoreError::Migration { migration: name, source: e };
        match step {
            Step::Sql(sql) => tx.execute_batch(sql).map_err(|e| failed(cause(e)))?,
            Step::Code(run) => run(&tx).map_err(|e| failed(cause(e)))?,
        }
        tx.pragma_update(None, "user_version", applied + 1).map_err(|e| failed(cause(e)))?;
        tx.commit().map_err(|e| failed(cause(e)))?;
        tracing::info!(migration = name, "applied store migration");
    }
}
