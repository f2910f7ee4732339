//! Embedded migrations, tracked with SQLite's `user_version`.

use rusqlite::Connection;

use crate::error::StoreError;

/// Migrations in order; the database's `user_version` counts how many are applied.
const MIGRATIONS: &[(&str, &str)] =
    &[("0001_promises", include_str!("../../migrations/0001_promises.sql"))];

/// Applies every migration the database does not have yet, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let open = |e: rusqlite::Error| StoreError::Open(e.to_string());
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(open)?;
    let known = MIGRATIONS.len() as i64;
    if applied > known {
        return Err(StoreError::Open(format!(
            "the database has schema version {applied}, newer than this natsapi knows ({known}); \
             upgrade natsapi"
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = conn.transaction().map_err(open)?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Open(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", index as i64 + 1).map_err(open)?;
        tx.commit().map_err(open)?;
        tracing::info!(migration = name, "applied store migration");
    }
    Ok(())
}
