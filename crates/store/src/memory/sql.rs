//! Plain SQL on the memory backend: there are no SQL tables in memory, so every statement fails
//! with a clear error. The families that need SQL (ingest) open a SQLite or PostgreSQL store.

use natsapi_core::TxError;
use natsapi_core::sql::{Dialect, SqlRow, SqlTx, SqlValue};

use super::{ReadOnly, UndoTx};

/// The error of every SQL statement on the memory backend.
#[derive(Debug, thiserror::Error)]
#[error(
    "the memory store keeps no SQL tables; use a SQLite or PostgreSQL store for data reached \
     through SQL"
)]
pub struct NoSqlTables;

fn refuse<T>() -> Result<T, TxError> {
    Err(TxError::new(NoSqlTables))
}

impl SqlTx for ReadOnly<'_> {
    /// No statement runs here; SQLite's dialect stands in.
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, _: &str, _: &[SqlValue]) -> Result<u64, TxError> {
        refuse()
    }

    fn query(&mut self, _: &str, _: &[SqlValue]) -> Result<Vec<SqlRow>, TxError> {
        refuse()
    }
}

impl SqlTx for UndoTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, _: &str, _: &[SqlValue]) -> Result<u64, TxError> {
        refuse()
    }

    fn query(&mut self, _: &str, _: &[SqlValue]) -> Result<Vec<SqlRow>, TxError> {
        refuse()
    }
}
