//! Embedded migrations, recorded in `natsapi_schema_migrations` and applied at start under a
//! session advisory lock, so instances starting together on one database apply each migration
//! once: the second waits for the first, then finds nothing left to do.

use super::connection::PgConn;
use crate::error::{StoreError, cause};

/// Migrations in order; a migration's version is its position, from 1.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_store", include_str!("../../migrations/postgres/0001_store.sql")),
    ("0002_messages", include_str!("../../migrations/postgres/0002_messages.sql")),
    ("0003_rpclog", include_str!("../../migrations/postgres/0003_rpclog.sql")),
];

/// The advisory lock key held while migrating: "natsapi" in ASCII.
const MIGRATION_LOCK: i64 = 0x006e_6174_7361_7069;

/// Applies every migration the database does not have yet; refuses a database that is newer than
/// this build.
pub(super) fn migrate(conn: &mut PgConn) -> Result<(), StoreError> {
    let check = |e| StoreError::Migration { migration: "(version check)", source: cause(e) };
    conn.client().execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).map_err(check)?;
    let result = apply_missing(conn);
    // Unlocks even after a failure; the lock would otherwise last as long as the connection.
    let unlocked = conn.client().execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result?;
    unlocked.map(drop).map_err(check)
}

fn apply_missing(conn: &mut PgConn) -> Result<(), StoreError> {
    let check = |e| StoreError::Migration { migration: "(version check)", source: cause(e) };
    conn.client()
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS natsapi_schema_migrations (\
                 version    INTEGER PRIMARY KEY, \
                 name       TEXT NOT NULL, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .map_err(check)?;
    let row = conn
        .client()
        .query_one("SELECT COALESCE(MAX(version), 0) FROM natsapi_schema_migrations", &[])
        .map_err(check)?;
    let applied = i64::from(row.get::<_, i32>(0));
    let known = MIGRATIONS.len() as i64;
    if applied > known {
        return Err(StoreError::SchemaTooNew { found: applied, known });
    }
    for (version, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let failed = |e| StoreError::Migration { migration: name, source: cause(e) };
        let version = i32::try_from(version + 1).unwrap_or(i32::MAX);
        let mut tx = conn.client().transaction().map_err(failed)?;
        tx.batch_execute(sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO natsapi_schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, name],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(migration = name, "applied store migration");
    }
    Ok(())
}
