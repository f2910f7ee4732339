//! Embedded migrations, tracked with SQLite's `user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;

/// Migrations in order; the database's `user_version` counts how many are applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_promises", include_str!("../../migrations/0001_promises.sql")),
    ("0002_tasks", include_str!("../../migrations/0002_tasks.sql")),
    ("0003_schedules_locks", include_str!("../../migrations/0003_schedules_locks.sql")),
];

/// Applies every migration the database does not have yet. Each runs in an immediate
/// transaction that re-reads the version under the write lock, so processes starting together on
/// one file apply each migration once.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let open = |e: rusqlite::Error| StoreError::Open(e.to_string());
    let known = MIGRATIONS.len() as i64;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open)?;
        let applied: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(open)?;
        if applied > known {
            return Err(StoreError::Open(format!(
                "the database has schema version {applied}, newer than this natsapi knows \
                 ({known}); upgrade natsapi"
            )));
        }
        let Some((name, sql)) = MIGRATIONS.get(applied as usize) else {
            return Ok(());
        };
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Open(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", applied + 1).map_err(open)?;
        tx.commit().map_err(open)?;
        tracing::info!(migration = name, "applied store migration");
    }
}
