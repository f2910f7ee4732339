//! Adopting the ingest database of an earlier natsapi.
//!
//! Before ingested messages were a family of this store, the ingest crate kept its `messages`
//! table in a SQLite file of its own, versioned in a `natsapi_ingest_schema` table (version 1:
//! the table; version 2: its `fingerprint` column) rather than in `user_version`. Such a file,
//! given to the store, must open with its rows: the store's migrations 0001–0003 add the store's
//! tables beside them, and migration 0004 finds the `messages` table there, brings it to the
//! current shape and drops the old version table, instead of creating the table anew.

use rusqlite::{OptionalExtension, Transaction};

/// The `messages` table as this store creates it.
const MESSAGES: &str = include_str!("../../migrations/sqlite/0004_messages.sql");

/// The newest `natsapi_ingest_schema` version an earlier natsapi wrote.
const LAST_LEGACY_VERSION: i64 = 2;

/// Why the ingest tables could not be adopted.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// A statement failed.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// The old version table names a version no natsapi wrote before the one store.
    #[error(
        "the ingest schema of this file is at version {found}, which no natsapi this one can \
         adopt wrote (it knows versions up to {LAST_LEGACY_VERSION})"
    )]
    UnknownVersion {
        /// The version the file records.
        found: i64,
    },
}

/// Migration 0004: creates the `messages` table, or adopts the one an earlier natsapi made.
pub fn messages(tx: &Transaction<'_>) -> Result<(), LegacyError> {
    let legacy: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'natsapi_ingest_schema'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .map(|()| {
            tx.query_row("SELECT COALESCE(MAX(version), 0) FROM natsapi_ingest_schema", [], |r| {
                r.get(0)
            })
        })
        .transpose()?;
    match legacy {
        // No earlier ingest schema (or one that never got its first migration).
        None | Some(0) => tx.execute_batch(MESSAGES)?,
        Some(1) => tx.execute_batch("ALTER TABLE messages ADD COLUMN fingerprint TEXT")?,
        Some(LAST_LEGACY_VERSION) => {}
        Some(found) => return Err(LegacyError::UnknownVersion { found }),
    }
    if legacy.is_some() {
        tx.execute_batch("DROP TABLE natsapi_ingest_schema")?;
        tracing::info!(version = legacy, "adopted the ingest tables of an earlier natsapi");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use tempfile::TempDir;

    use super::super::{SqliteConfig, connection};
    use crate::error::StoreError;

    /// The first ingest migration of the earlier natsapi, as it shipped.
    const LEGACY_0001: &str = "CREATE TABLE messages (
        message_id   TEXT PRIMARY KEY,
        entity_type  TEXT NOT NULL,
        source       TEXT,
        status       TEXT NOT NULL
            CHECK (status IN ('accepted', 'processing', 'processed', 'failed', 'dead_lettered')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        body         TEXT,
        received_at  INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        processed_at INTEGER,
        stream_seq   INTEGER
    ) WITHOUT ROWID;";

    /// An ingest file as the earlier natsapi left it at `version` (1 or 2), with a processed
    /// message, an accepted one and a mapped table.
    fn legacy_file(dir: &TempDir, version: i64) -> SqliteConfig {
        let config = SqliteConfig { path: dir.path().join("ingest.db"), ..Default::default() };
        let conn = Connection::open(&config.path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        conn.execute_batch("CREATE TABLE natsapi_ingest_schema (version INTEGER NOT NULL)")
            .unwrap();
        conn.execute_batch(LEGACY_0001).unwrap();
        if version >= 2 {
            conn.execute_batch("ALTER TABLE messages ADD COLUMN fingerprint TEXT").unwrap();
        }
        conn.execute("INSERT INTO natsapi_ingest_schema (version) VALUES (?1)", [version]).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (message_id, entity_type, status, attempts, body, received_at, \
             updated_at, processed_at, stream_seq) VALUES \
             ('m1', 'order', 'processed', 1, '{\"a\":1}', 10, 11, 11, 7), \
             ('m2', 'order', 'accepted', 0, NULL, 12, 12, NULL, NULL); \
             CREATE TABLE orders (message_id TEXT PRIMARY KEY, order_id TEXT NOT NULL); \
             INSERT INTO orders VALUES ('m1', 'A1');",
        )
        .unwrap();
        config
    }

    fn strings(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn an_ingest_file_of_an_earlier_natsapi_opens_with_its_rows_at_either_version() {
        for version in [1, 2] {
            let dir = TempDir::new().unwrap();
            let config = legacy_file(&dir, version);
            let conn = connection::open_writer(&config).unwrap();
            let rows =
                strings(&conn, "SELECT message_id || ':' || status FROM messages ORDER BY 1");
            assert_eq!(rows, ["m1:processed", "m2:accepted"], "version {version}");
            assert_eq!(strings(&conn, "SELECT order_id FROM orders"), ["A1"]);
            let columns = strings(&conn, "SELECT name FROM pragma_table_info('messages')");
            assert_eq!(columns.last().map(String::as_str), Some("fingerprint"), "{columns:?}");
            let gone = strings(&conn, "SELECT name FROM sqlite_master WHERE name LIKE 'natsapi%'");
            assert!(gone.is_empty(), "{gone:?}");
            // The store's own tables are there, and the file is at the current version.
            assert_eq!(
                strings(&conn, "SELECT name FROM sqlite_master WHERE name = 'promises'").len(),
                1
            );
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
            assert_eq!(version, 5);
            drop(conn);
            // Opening it again changes nothing.
            let conn = connection::open_writer(&config).unwrap();
            assert_eq!(strings(&conn, "SELECT message_id FROM messages ORDER BY 1"), ["m1", "m2"]);
        }
    }

    #[test]
    fn an_ingest_schema_version_no_natsapi_wrote_is_refused() {
        let dir = TempDir::new().unwrap();
        let config = legacy_file(&dir, 2);
        let conn = Connection::open(&config.path).unwrap();
        conn.execute("UPDATE natsapi_ingest_schema SET version = 3", []).unwrap();
        drop(conn);
        let err = connection::open_writer(&config).unwrap_err();
        assert!(matches!(err, StoreError::Migration { migration: "0004_messages", .. }), "{err}");
        assert!(err.to_string().contains("version 3"), "{err}");
        // Nothing of the failed migration stayed: the rows and the old version are there.
        let conn = Connection::open(&config.path).unwrap();
        assert_eq!(strings(&conn, "SELECT message_id FROM messages ORDER BY 1"), ["m1", "m2"]);
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 3, "0001-0003 committed, 0004 did not");
    }
}
