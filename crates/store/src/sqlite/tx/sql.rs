//! Plain SQL ([`SqlTx`]) on SQLite: `$n` parameters bound by their number, values converted to
//! and from SQLite's storage classes. A statement that writes on a read connection fails with
//! [`TxError::needs_write`] before it runs (SQLite says whether a prepared statement writes).

use natsapi_core::TxError;
use natsapi_core::sql::{ColumnError, Dialect, ParamError, SqlRow, SqlTx, SqlValue};
use rusqlite::Statement;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

use super::{SqliteTx, tx_err};

impl SqlTx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, TxError> {
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(sql).map_err(tx_err)?;
        bind(&mut statement, params)?;
        let changed = statement.raw_execute().map_err(tx_err)?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, TxError> {
        let mut statement = self.conn.prepare_cached(sql).map_err(tx_err)?;
        if !statement.readonly() {
            self.before_write()?;
        }
        bind(&mut statement, params)?;
        let columns = statement.column_count();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(tx_err)? {
            let mut values = Vec::with_capacity(columns);
            for index in 0..columns {
                values.push(read(row.get_ref(index).map_err(tx_err)?, index)?);
            }
            out.push(values);
        }
        Ok(out)
    }
}

/// Binds each of the statement's `$n` parameters to `params[n - 1]`. Every value must be used by
/// the statement's highest number, as PostgreSQL requires, so a statement behaves alike on both.
fn bind(statement: &mut Statement<'_>, params: &[SqlValue]) -> Result<(), TxError> {
    let mut highest = 0;
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                TxError::new(ParamError {
                    number: index,
                    problem: "only $1, $2, … placeholders are portable; use them".into(),
                })
            })?;
        let value = params.get(number - 1).ok_or_else(|| {
            TxError::new(ParamError {
                number,
                problem: format!(
                    "the statement uses ${number} but {} values were given",
                    params.len()
                ),
            })
        })?;
        statement.raw_bind_parameter(index, Bound(value)).map_err(tx_err)?;
        highest = highest.max(number);
    }
    if highest != params.len() {
        return Err(TxError::new(ParamError {
            number: highest + 1,
            problem: format!(
                "{} values were given but the statement's highest placeholder is ${highest}",
                params.len()
            ),
        }));
    }
    Ok(())
}

/// A value as SQLite binds it: booleans as the integers 0 and 1.
struct Bound<'a>(&'a SqlValue);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            SqlValue::Real(x) => ToSqlOutput::Owned(Value::Real(*x)),
            SqlValue::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            SqlValue::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// A column's value; text that is not UTF-8 is refused.
fn read(value: ValueRef<'_>, index: usize) -> Result<SqlValue, TxError> {
    Ok(match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Int(n),
        ValueRef::Real(x) => SqlValue::Real(x),
        ValueRef::Text(bytes) => {
            SqlValue::Text(String::from_utf8(bytes.to_vec()).map_err(|e| {
                TxError::new(ColumnError { index, problem: format!("text is not UTF-8: {e}") })
            })?)
        }
        ValueRef::Blob(bytes) => SqlValue::Bytes(bytes.to_vec()),
    })
}
