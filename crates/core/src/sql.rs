//! Plain SQL inside a store's transaction, for the families whose tables are not modelled here
//! (the ingest `messages` table, mapped entity tables, custom message handlers).
//!
//! Why a family of its own: those families must run on every database backend without knowing
//! which driver is underneath, and commit together with the store's own writes. So the SQL is
//! written once for SQLite and PostgreSQL, and the few places where the two differ (a column
//! type, a catalog query) ask [`SqlTx::dialect`]:
//!
//! - placeholders are `$1`, `$2`, … (both databases read them; each parameter is bound by its
//!   number, so a number may appear several times and in any order);
//! - upserts are `INSERT … ON CONFLICT (key) DO NOTHING` or `DO UPDATE SET x = excluded.x`;
//! - functions that exist in one database only (SQLite's two-argument `max`, PostgreSQL's
//!   `greatest`) are avoided in favour of `CASE`, `COALESCE` and the like.
//!
//! Values cross the boundary as [`SqlValue`]s. A backend binds each one as the type the database
//! expects at that place and refuses, naming the parameter, a value that cannot be that type; a
//! read returns each column as the closest value (booleans come back from SQLite as integers:
//! read them with [`SqlValue::as_bool`]).

use std::fmt;

use crate::error::TxError;

/// The SQL dialect of the database under a [`SqlTx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// An integer (SQLite `INTEGER`; PostgreSQL `SMALLINT`, `INTEGER` or `BIGINT`).
    Int(i64),
    /// A floating-point number (`REAL`, `DOUBLE PRECISION`).
    Real(f64),
    /// Text (`TEXT`, `VARCHAR`; PostgreSQL `JSON`/`JSONB` are bound and read as their text).
    Text(String),
    /// Bytes (`BLOB`, `BYTEA`).
    Bytes(Vec<u8>),
    /// A boolean (PostgreSQL `BOOLEAN`; SQLite stores it as the integer 0 or 1).
    Bool(bool),
}

impl SqlValue {
    /// Whether the value is `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }

    /// The integer, if the value is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The number, if the value is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SqlValue::Real(x) => Some(*x),
            SqlValue::Int(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// The text, if the value is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if the value is bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            SqlValue::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The boolean, if the value is one, or the integer 0 or 1 (how SQLite keeps booleans).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            SqlValue::Bool(b) => Some(*b),
            SqlValue::Int(0) => Some(false),
            SqlValue::Int(1) => Some(true),
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            SqlValue::Null => "null",
            SqlValue::Int(_) => "integer",
            SqlValue::Real(_) => "real",
            SqlValue::Text(_) => "text",
            SqlValue::Bytes(_) => "bytes",
            SqlValue::Bool(_) => "boolean",
        }
    }
}

impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Int(n)
    }
}

impl From<f64> for SqlValue {
    fn from(x: f64) -> Self {
        SqlValue::Real(x)
    }
}

impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Bool(b)
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(b: Vec<u8>) -> Self {
        SqlValue::Bytes(b)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SqlValue::Null, Into::into)
    }
}

/// One row of a query's result, its columns in the order the query selects them.
pub type SqlRow = Vec<SqlValue>;

/// Plain SQL in the operation's transaction (see the module docs for the portable subset).
///
/// On the write path every statement runs in the store's transaction and commits with the
/// operation. On the read path (an operation's `read_attempt`) [`SqlTx::query`] reads the last
/// committed state, and a statement that writes fails with [`TxError::needs_write`], so that the
/// store runs the operation again on the write path; [`SqlTx::execute`] always counts as a write.
pub trait SqlTx {
    /// The database's dialect, for the statements that differ between backends.
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows (`INSERT`, `UPDATE`, `DELETE`, `CREATE TABLE`, …)
    /// with `params` bound to `$1…$n`; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, TxError>;

    /// Runs a statement that returns rows (`SELECT`, or a write with `RETURNING` on the write
    /// path) with `params` bound to `$1…$n`; returns every row.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, TxError>;
}

/// A statement's parameter that the database cannot take as given: the backend's error, with
/// the parameter's number and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's number (`$n`).
    pub number: usize,
    /// What was wrong with it.
    pub problem: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter ${}: {}", self.number, self.problem)
    }
}

impl std::error::Error for ParamError {}

/// A column the backend cannot read as a [`SqlValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnError {
    /// The column's position, from 0.
    pub index: usize,
    /// What was wrong with it.
    pub problem: String,
}

impl fmt::Display for ColumnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "result column {}: {}", self.index + 1, self.problem)
    }
}

impl std::error::Error for ColumnError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_only_their_own_kind_and_booleans_from_zero_and_one() {
        assert_eq!(SqlValue::Int(7).as_i64(), Some(7));
        assert_eq!(SqlValue::Text("7".into()).as_i64(), None);
        assert_eq!(SqlValue::Int(2).as_f64(), Some(2.0));
        assert_eq!(SqlValue::Int(1).as_bool(), Some(true));
        assert_eq!(SqlValue::Int(0).as_bool(), Some(false));
        assert_eq!(SqlValue::Int(2).as_bool(), None);
        assert_eq!(SqlValue::Bool(false).as_bool(), Some(false));
        assert_eq!(SqlValue::from(None::<String>), SqlValue::Null);
        assert_eq!(SqlValue::from(Some("a")), SqlValue::Text("a".into()));
        assert_eq!(SqlValue::Bytes(vec![1]).as_bytes(), Some(&[1u8][..]));
        assert!(SqlValue::Null.is_null());
        assert_eq!(SqlValue::Real(0.5).kind(), "real");
    }

    #[test]
    fn errors_name_the_parameter_or_column() {
        let p = ParamError { number: 3, problem: "out of range".into() };
        assert_eq!(p.to_string(), "parameter $3: out of range");
        let c = ColumnError { index: 0, problem: "numeric".into() };
        assert_eq!(c.to_string(), "result column 1: numeric");
    }
}
