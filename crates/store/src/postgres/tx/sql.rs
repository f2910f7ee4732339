//! Plain SQL ([`SqlTx`]) on PostgreSQL.
//!
//! Each statement is prepared (and cached) first, so the server says which type it wants for
//! each `$n`; every [`SqlValue`] is converted to that type before anything is sent, with a range
//! check for the smaller integers, and a value that cannot be that type is refused with an error
//! naming the parameter and both types (no round trip, and the transaction stays usable). Columns
//! come back by their type: integers, floats, booleans, text (`JSON`/`JSONB` as their text) and
//! bytes; any other type must be cast in the query (`::text`, `::float8`).
//!
//! Errors are recorded like every other statement's ([`PgTx::failed`]): a conflict reruns the
//! operation, any other failure rolls the group back. On a read connection a statement that does
//! not start with `SELECT`, `VALUES`, `TABLE` or `SHOW` fails with [`TxError::needs_write`] before
//! it is sent; the read connections are read-only sessions besides, so a read that writes anyway
//! (a function with side effects) is refused by the server and sent to the write path too.

use std::error::Error;

use bytes::BytesMut;
use natsapi_core::TxError;
use natsapi_core::sql::{ColumnError, Dialect, ParamError, SqlRow, SqlTx, SqlValue};
use postgres::error::SqlState;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::PgTx;

impl SqlTx for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, TxError> {
        self.before_write()?;
        let statement = self.conn.statement(sql).map_err(|e| self.failed(e))?;
        let bound = convert(statement.params(), params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b as _).collect();
        let result = self.conn.run_statement(|c| c.execute(&statement, &refs));
        result.map_err(|e| self.failed(e))
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, TxError> {
        // On the writer every statement counts as a write: a SELECT may call a function with
        // side effects, which a failed operation must not leave behind.
        if self.writable || !reads_only(sql) {
            self.before_write()?;
        }
        let statement = self.conn.statement(sql).map_err(|e| self.failed(e))?;
        let bound = convert(statement.params(), params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b as _).collect();
        let rows = match self.conn.run_statement(|c| c.query(&statement, &refs)) {
            Ok(rows) => rows,
            Err(e) if !self.writable && e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) => {
                return Err(TxError::needs_write());
            }
            Err(e) => return Err(self.failed(e)),
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(row.len());
            for index in 0..row.len() {
                match row.try_get::<_, Read>(index) {
                    Ok(Read(value)) => values.push(value),
                    Err(e) => {
                        self.undecodable();
                        let problem = e.source().map_or_else(|| e.to_string(), ToString::to_string);
                        return Err(TxError::new(ColumnError { index, problem }));
                    }
                }
            }
            out.push(values);
        }
        Ok(out)
    }
}

/// Whether `sql` only reads, judged by its first keyword (after blanks, comments and opening
/// parentheses): `SELECT`, `VALUES`, `TABLE` or `SHOW`. Anything else (`WITH` included, which
/// may hold a write) counts as a write.
pub(super) fn reads_only(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(comment) = trimmed.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = trimmed.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            rest = trimmed;
            break;
        }
    }
    let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
    ["select", "values", "table", "show"].iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// A value converted to the type the server wants for its parameter.
#[derive(Debug)]
enum Bound<'a> {
    Null,
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// JSONB's binary form: a version byte, then the JSON text.
    Jsonb(&'a str),
}

/// Converts each of `values` to the type of its parameter.
fn convert<'a>(types: &[Type], values: &'a [SqlValue]) -> Result<Vec<Bound<'a>>, TxError> {
    if types.len() != values.len() {
        return Err(TxError::new(ParamError {
            number: types.len().min(values.len()) + 1,
            problem: format!(
                "the statement has {} parameters but {} values were given",
                types.len(),
                values.len()
            ),
        }));
    }
    types
        .iter()
        .zip(values)
        .enumerate()
        .map(|(i, (ty, value))| {
            let number = i + 1;
            bind(number, ty, value).map_err(|problem| TxError::new(ParamError { number, problem }))
        })
        .collect()
}

/// `value` as parameter `$number` of type `ty`, or why it cannot be one.
fn bind<'a>(number: usize, ty: &Type, value: &'a SqlValue) -> Result<Bound<'a>, String> {
    let range = |n: i64| format!("{n} is out of range for {}", ty.name());
    let bound = match (value, ty) {
        (SqlValue::Null, _) => Some(Bound::Null),
        (SqlValue::Int(n), &Type::INT2) => {
            Some(Bound::Int2(i16::try_from(*n).map_err(|_| range(*n))?))
        }
        (SqlValue::Int(n), &Type::INT4) => {
            Some(Bound::Int4(i32::try_from(*n).map_err(|_| range(*n))?))
        }
        (SqlValue::Int(n), &Type::INT8) => Some(Bound::Int8(*n)),
        (SqlValue::Int(n), &Type::FLOAT8) => Some(Bound::Float8(*n as f64)),
        (SqlValue::Real(x), &Type::FLOAT8) => Some(Bound::Float8(*x)),
        (SqlValue::Real(x), &Type::FLOAT4) => Some(Bound::Float4(*x as f32)),
        (SqlValue::Bool(b), &Type::BOOL) => Some(Bound::Bool(*b)),
        (
            SqlValue::Text(s),
            &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::JSON,
        ) => Some(Bound::Text(s)),
        (SqlValue::Text(s), &Type::JSONB) => Some(Bound::Jsonb(s)),
        (SqlValue::Bytes(b), &Type::BYTEA) => Some(Bound::Bytes(b)),
        _ => None,
    };
    if let (Some(_), SqlValue::Text(s)) = (&bound, value)
        && s.contains('\0')
    {
        return Err("PostgreSQL text cannot hold the NUL character".into());
    }
    bound.ok_or_else(|| {
        format!(
            "PostgreSQL wants {} here, which a {} value cannot be; convert it in the statement \
             (for example ${number}::text::{})",
            ty.name(),
            value.kind(),
            ty.name()
        )
    })
}

impl ToSql for Bound<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Bound::Null => Ok(IsNull::Yes),
            Bound::Int2(n) => n.to_sql(ty, out),
            Bound::Int4(n) => n.to_sql(ty, out),
            Bound::Int8(n) => n.to_sql(ty, out),
            Bound::Float4(x) => x.to_sql(ty, out),
            Bound::Float8(x) => x.to_sql(ty, out),
            Bound::Bool(b) => b.to_sql(ty, out),
            Bound::Text(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            Bound::Bytes(b) => {
                out.extend_from_slice(b);
                Ok(IsNull::No)
            }
            Bound::Jsonb(s) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    /// Every type: [`bind`] has matched the value to its parameter's type already.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column read as a [`SqlValue`].
struct Read(SqlValue);

impl<'a> FromSql<'a> for Read {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let value = match *ty {
            Type::INT2 => SqlValue::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => SqlValue::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => SqlValue::Int(i64::from_sql(ty, raw)?),
            Type::OID => SqlValue::Int(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => SqlValue::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => SqlValue::Real(f64::from_sql(ty, raw)?),
            Type::BOOL => SqlValue::Bool(bool::from_sql(ty, raw)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
                SqlValue::Text(std::str::from_utf8(raw)?.to_owned())
            }
            Type::JSONB => match raw.split_first() {
                Some((1, text)) => SqlValue::Text(std::str::from_utf8(text)?.to_owned()),
                _ => return Err("unsupported JSONB encoding version".into()),
            },
            Type::BYTEA => SqlValue::Bytes(raw.to_vec()),
            _ => {
                return Err(format!(
                    "natsapi cannot read a {} column; cast it in the query (::text, ::float8, \
                     ::bigint)",
                    ty.name()
                )
                .into());
            }
        };
        Ok(Read(value))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Read(SqlValue::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statements_that_start_with_a_read_keyword_read_only() {
        for sql in ["SELECT 1", "  select 1", "(SELECT 1)", "-- x\nSELECT 1", "/* a */ VALUES (1)"]
        {
            assert!(reads_only(sql), "{sql}");
        }
        for sql in
            ["INSERT INTO t VALUES (1)", "WITH x AS (DELETE FROM t) SELECT 1", "", "-- SELECT"]
        {
            assert!(!reads_only(sql), "{sql}");
        }
    }

    #[test]
    fn values_convert_to_the_wanted_type_or_are_refused_by_name() {
        assert!(matches!(bind(1, &Type::INT2, &SqlValue::Int(7)), Ok(Bound::Int2(7))));
        let err = bind(1, &Type::INT2, &SqlValue::Int(70_000)).unwrap_err();
        assert!(err.contains("70000 is out of range for int2"), "{err}");
        assert!(matches!(bind(1, &Type::INT4, &SqlValue::Int(-1)), Ok(Bound::Int4(-1))));
        assert!(bind(1, &Type::INT4, &SqlValue::Int(i64::MAX)).is_err());
        assert!(matches!(
            bind(1, &Type::JSONB, &SqlValue::Text("{}".into())),
            Ok(Bound::Jsonb("{}"))
        ));
        assert!(matches!(bind(1, &Type::UUID, &SqlValue::Null), Ok(Bound::Null)));
        let err = bind(1, &Type::INT8, &SqlValue::Text("1".into())).unwrap_err();
        assert!(err.contains("int8") && err.contains("text value"), "{err}");
        let err = bind(1, &Type::TEXT, &SqlValue::Text("a\0b".into())).unwrap_err();
        assert!(err.contains("NUL"), "{err}");
        let err = convert(&[Type::INT8], &[]).unwrap_err();
        assert!(err.to_string().contains("1 parameters but 0 values"), "{err}");
    }
}
