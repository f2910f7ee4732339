//! [`Tx`] over a SQLite connection that is inside an open transaction.

mod locks;
mod promises;
mod schedules;
mod sql;
mod tasks;

use std::collections::BTreeMap;

use natsapi_core::{TxError, Value};
use rusqlite::types::Type;
use rusqlite::{Connection, Row};

/// One operation inside an open transaction. On a reader, every write fails with
/// [`TxError::needs_write`].
///
/// On the writer, operations take no savepoints: a savepoint makes SQLite copy every page an
/// operation touches into a sub-journal, which costs more than the insert itself. A statement is
/// atomic on its own, and an operation that fails before writing leaves nothing behind; one that
/// fails after writing (a bug or an I/O error) cannot be undone alone: [`SqliteTx::wrote`] tells
/// the writer, which rolls back the group and runs the other operations again.
pub struct SqliteTx<'c> {
    conn: &'c Connection,
    writable: bool,
    wrote: bool,
}

impl<'c> SqliteTx<'c> {
    /// An operation on the writer's connection, which has a transaction open.
    pub fn writer(conn: &'c Connection) -> Self {
        SqliteTx { conn, writable: true, wrote: false }
    }

    /// An operation on a read-only connection.
    pub fn reader(conn: &'c Connection) -> Self {
        SqliteTx { conn, writable: false, wrote: false }
    }

    /// Marks the operation as writing; fails on a read-only connection.
    fn before_write(&mut self) -> Result<(), TxError> {
        if !self.writable {
            return Err(TxError::needs_write());
        }
        self.wrote = true;
        Ok(())
    }

    /// Runs a newest-first search: `sql` selects from `table` with `args` bound, and gets each
    /// of `tags` as an exact match, then the page's order and `limit`.
    fn search_page<T>(
        &self,
        mut sql: String,
        mut args: Vec<Box<dyn rusqlite::ToSql>>,
        table: &str,
        tags: &BTreeMap<String, String>,
        limit: usize,
        from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, TxError> {
        for (key, value) in tags {
            let k = args.len() + 1;
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM json_each({table}.tags) WHERE key = ?{k} \
                 AND value = ?{})",
                k + 1
            ));
            args.push(Box::new(key.clone()));
            args.push(Box::new(value.clone()));
        }
        sql.push_str(&format!(" ORDER BY sort_id DESC LIMIT {limit}"));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(tx_err)?;
        let rows =
            stmt.query_map(rusqlite::params_from_iter(args.iter()), from_row).map_err(tx_err)?;
        rows.collect::<Result<_, _>>().map_err(tx_err)
    }

    /// Whether the operation wrote anything.
    pub fn wrote(&self) -> bool {
        self.wrote
    }
}

/// Runs a fixed statement through the statement cache (no SQL parsing per call).
pub fn run_statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// A SQLite error as the error operations see.
fn tx_err(e: rusqlite::Error) -> TxError {
    TxError::new(e)
}

/// JSON text for a map, `NULL` when empty.
fn map_json(map: &BTreeMap<String, String>) -> Option<String> {
    (!map.is_empty()).then(|| serde_json::to_string(map).unwrap_or_default())
}

fn map_from(row: &Row<'_>, index: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    match row.get::<_, Option<String>>(index)? {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, e.into())),
    }
}

fn value_from(row: &Row<'_>, headers: usize, data: usize) -> rusqlite::Result<Value> {
    Ok(Value {
        headers: map_from(row, headers)?,
        data: row.get::<_, Option<Vec<u8>>>(data)?.unwrap_or_default(),
    })
}

fn blob(data: &[u8]) -> Option<&[u8]> {
    (!data.is_empty()).then_some(data)
}
