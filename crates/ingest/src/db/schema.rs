//! The ingest schema, versioned in its own table so that it can share a file with other data.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::IngestError;

/// Migrations in order; `natsapi_ingest_schema.version` counts those applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_messages", include_str!("0001_messages.sql")),
    ("0002_fingerprint", include_str!("0002_fingerprint.sql")),
];

/// Applies the migrations the database lacks; refuses a database newer than this build.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), IngestError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS natsapi_ingest_schema (version INTEGER NOT NULL)",
    )?;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: i64 =
            tx.query_row("SELECT COALESCE(MAX(version), 0) FROM natsapi_ingest_schema", [], |r| {
                r.get(0)
            })?;
        let known = MIGRATIONS.len() as i64;
        if applied > known {
            return Err(IngestError::Database(format!(
                "the ingest schema is at version {applied}, newer than this natsapi knows \
                 ({known}); upgrade natsapi"
            )));
        }
        let Some((name, sql)) = MIGRATIONS.get(applied as usize) else { return Ok(()) };
        tx.execute_batch(sql)
            .map_err(|e| IngestError::Database(format!("migration {name} failed: {e}")))?;
        tx.execute("DELETE FROM natsapi_ingest_schema", [])?;
        tx.execute("INSERT INTO natsapi_ingest_schema (version) VALUES (?1)", [applied + 1])?;
        tx.commit()?;
        tracing::info!(migration = name, "applied ingest migration");
    }
}
