//! Typed tables without code: a mapping from an entity type to a table whose columns are read
//! from the message body by JSON pointer. The worker creates the tables; each row's primary key
//! is the message id, so a message lands in its table once.
//!
//! The tables live in the store's database, SQLite or PostgreSQL: each column type has its SQL
//! type in each dialect (a boolean is `INTEGER` 0/1 on SQLite, `BOOLEAN` on PostgreSQL; JSON is
//! `TEXT` on SQLite, `JSONB` on PostgreSQL), and the statements run through the store's
//! transaction ([`SqlTx`]).

use std::collections::{BTreeMap, BTreeSet};

use natsapi_core::sql::{Dialect, SqlTx, SqlValue};
use serde_json::Value;

use crate::error::IngestError;
use crate::handler::{ApplyError, Message, MessageHandler};

/// The SQL type of a mapped column and how a JSON value converts to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A JSON string.
    Text,
    /// A JSON number without a fraction, in the 64-bit range.
    Integer,
    /// Any JSON number.
    Real,
    /// `true` or `false` (on SQLite stored as 1 or 0).
    Boolean,
    /// Any JSON value, stored as its JSON text (`JSONB` on PostgreSQL).
    Json,
}

impl ColumnType {
    /// The type named `name` (`text`, `integer`, `real`, `boolean`, `json`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "text" | "string" => Some(ColumnType::Text),
            "integer" | "int" => Some(ColumnType::Integer),
            "real" | "float" | "number" => Some(ColumnType::Real),
            "boolean" | "bool" => Some(ColumnType::Boolean),
            "json" => Some(ColumnType::Json),
            _ => None,
        }
    }

    /// The column's SQL type in `dialect`, as the database's catalog names it (upper case).
    pub fn sql(self, dialect: Dialect) -> &'static str {
        match (dialect, self) {
            (_, ColumnType::Text) => "TEXT",
            (Dialect::Sqlite, ColumnType::Integer | ColumnType::Boolean) => "INTEGER",
            (Dialect::Sqlite, ColumnType::Real) => "REAL",
            (Dialect::Sqlite, ColumnType::Json) => "TEXT",
            (Dialect::Postgres, ColumnType::Integer) => "BIGINT",
            (Dialect::Postgres, ColumnType::Real) => "DOUBLE PRECISION",
            (Dialect::Postgres, ColumnType::Boolean) => "BOOLEAN",
            (Dialect::Postgres, ColumnType::Json) => "JSONB",
        }
    }

    /// `value` as this column's SQL value in `dialect`, or why it does not fit.
    fn convert(self, value: &Value, dialect: Dialect) -> Result<SqlValue, String> {
        let fits = match (self, value) {
            (ColumnType::Text, Value::String(s)) => Some(SqlValue::Text(s.clone())),
            (ColumnType::Integer, Value::Number(n)) => n.as_i64().map(SqlValue::Int),
            (ColumnType::Real, Value::Number(n)) => n.as_f64().map(SqlValue::Real),
            (ColumnType::Boolean, Value::Bool(b)) => Some(SqlValue::Bool(*b)),
            (ColumnType::Json, v) => Some(SqlValue::Text(v.to_string())),
            _ => None,
        };
        let sql = fits.ok_or_else(|| format!("expected {}, got {value}", self.describe()))?;
        if dialect == Dialect::Postgres && has_nul(value) {
            return Err("PostgreSQL text cannot hold the NUL character (\\u0000)".into());
        }
        Ok(sql)
    }

    fn describe(self) -> &'static str {
        match self {
            ColumnType::Text => "a string",
            ColumnType::Integer => "an integer",
            ColumnType::Real => "a number",
            ColumnType::Boolean => "true or false",
            ColumnType::Json => "any JSON",
        }
    }
}

/// Whether a string in `value` (a key included) holds the NUL character, which PostgreSQL text
/// cannot hold.
pub(crate) fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// One mapped column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// Where in the body its value is (RFC 6901 JSON pointer, e.g. `/customer/id`).
    pub pointer: String,
    /// Its type.
    pub kind: ColumnType,
    /// Whether a message without this value is refused (dead-lettered) instead of stored as NULL.
    pub required: bool,
}

/// The table of one entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTable {
    /// The table name.
    pub table: String,
    /// Its columns besides `message_id`.
    pub columns: Vec<Column>,
}

/// Every entity type's table; a [`MessageHandler`] that writes each message of a mapped entity
/// type to its table.
#[derive(Debug, Clone, Default)]
pub struct EntityMappings {
    tables: BTreeMap<String, EntityTable>,
}

/// The column every mapped table has: the message id, its primary key.
const ID_COLUMN: &str = "message_id";

fn check_identifier(what: &str, name: &str) -> Result<(), IngestError> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 63
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(IngestError::Mapping(format!(
            "{what} {name:?} is not an identifier (a letter or '_', then letters, digits or '_', \
             at most 63)"
        )))
    }
}

impl EntityMappings {
    /// Checks and keeps `tables` (entity type → table): identifiers, pointers, no column twice,
    /// no table twice, none of the store's own tables.
    pub fn new(tables: BTreeMap<String, EntityTable>) -> Result<Self, IngestError> {
        let mut seen_tables = BTreeSet::new();
        for (entity, table) in &tables {
            crate::envelope::check_entity_type(entity).map_err(IngestError::Mapping)?;
            check_identifier(&format!("entity {entity}: table"), &table.table)?;
            let lower = table.table.to_ascii_lowercase();
            if natsapi_store::TABLES.contains(&lower.as_str()) {
                return Err(IngestError::Mapping(format!(
                    "entity {entity}: table {} belongs to natsapi",
                    table.table
                )));
            }
            if !seen_tables.insert(lower) {
                return Err(IngestError::Mapping(format!(
                    "entity {entity}: table {} is mapped twice",
                    table.table
                )));
            }
            let mut names = BTreeSet::from([ID_COLUMN.to_owned()]);
            for column in &table.columns {
                check_identifier(&format!("entity {entity}: column"), &column.name)?;
                if !names.insert(column.name.to_ascii_lowercase()) {
                    return Err(IngestError::Mapping(format!(
                        "entity {entity}: column {} appears twice (message_id is implicit)",
                        column.name
                    )));
                }
                if !column.pointer.is_empty() && !column.pointer.starts_with('/') {
                    return Err(IngestError::Mapping(format!(
                        "entity {entity}: column {}: pointer {:?} must be empty or start with '/'",
                        column.name, column.pointer
                    )));
                }
            }
        }
        Ok(EntityMappings { tables })
    }

    /// Whether no entity type is mapped.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    fn create_sql(table: &EntityTable, dialect: Dialect) -> String {
        let mut columns = vec![format!("\"{ID_COLUMN}\" TEXT PRIMARY KEY")];
        for c in &table.columns {
            let not_null = if c.required { " NOT NULL" } else { "" };
            columns.push(format!("\"{}\" {}{not_null}", c.name, c.kind.sql(dialect)));
        }
        format!("CREATE TABLE IF NOT EXISTS \"{}\" ({})", table.table, columns.join(", "))
    }

    fn insert_sql(table: &EntityTable) -> String {
        let mut names = vec![format!("\"{ID_COLUMN}\"")];
        names.extend(table.columns.iter().map(|c| format!("\"{}\"", c.name)));
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO \"{}\" ({}) VALUES ({}) ON CONFLICT (\"{ID_COLUMN}\") DO NOTHING",
            table.table,
            names.join(", "),
            marks.join(", ")
        )
    }

    /// The existing table's columns (lower-cased name, upper-cased type), in order; none when
    /// the table does not exist.
    fn existing_columns(
        tx: &mut dyn SqlTx,
        table: &str,
    ) -> Result<Vec<(String, String)>, IngestError> {
        let sql = match tx.dialect() {
            Dialect::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
            Dialect::Postgres => {
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name::text = $1 \
                 ORDER BY ordinal_position"
            }
        };
        let rows = tx.query(sql, &[SqlValue::from(table)])?;
        rows.into_iter()
            .map(|row| match row.as_slice() {
                [SqlValue::Text(name), SqlValue::Text(kind)] => {
                    Ok((name.to_ascii_lowercase(), kind.to_ascii_uppercase()))
                }
                other => Err(IngestError::Mapping(format!(
                    "table {table}: cannot read its columns from the catalog ({other:?})"
                ))),
            })
            .collect()
    }
}

impl MessageHandler for EntityMappings {
    /// Creates each table, or checks that an existing one has exactly the mapped columns.
    fn prepare(&self, tx: &mut dyn SqlTx) -> Result<(), IngestError> {
        let dialect = tx.dialect();
        for (entity, table) in &self.tables {
            let existing = Self::existing_columns(tx, &table.table)?;
            if existing.is_empty() {
                tx.execute(&Self::create_sql(table, dialect), &[])?;
                continue;
            }
            let mut want = vec![(ID_COLUMN.to_owned(), "TEXT".to_owned())];
            want.extend(
                table
                    .columns
                    .iter()
                    .map(|c| (c.name.to_ascii_lowercase(), c.kind.sql(dialect).to_owned())),
            );
            let (mut have_sorted, mut want_sorted) = (existing.clone(), want.clone());
            have_sorted.sort();
            want_sorted.sort();
            if have_sorted != want_sorted {
                let show = |cols: &[(String, String)]| {
                    cols.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
                };
                return Err(IngestError::Mapping(format!(
                    "entity {entity}: table {} exists with columns ({}), the mapping wants ({}); \
                     alter or drop the table, or change the mapping",
                    table.table,
                    show(&existing),
                    show(&want)
                )));
            }
        }
        Ok(())
    }

    fn apply(&self, tx: &mut dyn SqlTx, message: &Message<'_>) -> Result<(), ApplyError> {
        let Some(table) = self.tables.get(message.entity_type) else { return Ok(()) };
        let dialect = tx.dialect();
        let mut values = vec![SqlValue::Text(message.message_id.to_string())];
        for column in &table.columns {
            let value = message.body.pointer(&column.pointer).filter(|v| !v.is_null());
            let sql = match value {
                None if column.required => {
                    return Err(ApplyError::Permanent(format!(
                        "entity {}: column {}: {} is missing or null",
                        message.entity_type, column.name, column.pointer
                    )));
                }
                None => SqlValue::Null,
                Some(v) => column.kind.convert(v, dialect).map_err(|why| {
                    ApplyError::Permanent(format!(
                        "entity {}: column {}: {}: {why}",
                        message.entity_type, column.name, column.pointer
                    ))
                })?,
            };
            values.push(sql);
        }
        tx.execute(&Self::insert_sql(table), &values)?;
        Ok(())
    }

    fn brief(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> BTreeMap<String, EntityTable> {
        BTreeMap::from([(
            "order".to_owned(),
            EntityTable {
                table: "orders".into(),
                columns: vec![
                    Column {
                        name: "order_id".into(),
                        pointer: "/order_id".into(),
                        kind: ColumnType::Text,
                        required: true,
                    },
                    Column {
                        name: "total".into(),
                        pointer: "/total".into(),
                        kind: ColumnType::Real,
                        required: false,
                    },
                ],
            },
        )])
    }

    #[test]
    fn values_convert_per_dialect_and_bad_ones_say_why() {
        let sqlite = Dialect::Sqlite;
        let postgres = Dialect::Postgres;
        let b = ColumnType::Boolean.convert(&serde_json::json!(true), sqlite).unwrap();
        assert_eq!(b, SqlValue::Bool(true));
        assert_eq!(ColumnType::Boolean.sql(sqlite), "INTEGER");
        assert_eq!(ColumnType::Boolean.sql(postgres), "BOOLEAN");
        assert_eq!(ColumnType::Json.sql(postgres), "JSONB");
        let json = ColumnType::Json.convert(&serde_json::json!({"a": [1]}), postgres).unwrap();
        assert_eq!(json, SqlValue::Text(r#"{"a":[1]}"#.into()));
        let err = ColumnType::Integer.convert(&serde_json::json!(1.5), sqlite).unwrap_err();
        assert!(err.contains("expected an integer"), "{err}");
        // PostgreSQL cannot keep NUL in text or JSONB; SQLite can.
        let nul = serde_json::json!("a\u{0}b");
        assert!(ColumnType::Text.convert(&nul, sqlite).is_ok());
        let err = ColumnType::Text.convert(&nul, postgres).unwrap_err();
        assert!(err.contains("NUL"), "{err}");
        let nested = serde_json::json!({"k": ["x", "a\u{0}"]});
        assert!(ColumnType::Json.convert(&nested, postgres).is_err());
    }

    #[test]
    fn statements_quote_identifiers_and_number_parameters() {
        let table = &orders()["order"];
        assert_eq!(
            EntityMappings::create_sql(table, Dialect::Postgres),
            "CREATE TABLE IF NOT EXISTS \"orders\" (\"message_id\" TEXT PRIMARY KEY, \
             \"order_id\" TEXT NOT NULL, \"total\" DOUBLE PRECISION)"
        );
        assert_eq!(
            EntityMappings::insert_sql(table),
            "INSERT INTO \"orders\" (\"message_id\", \"order_id\", \"total\") VALUES ($1, $2, $3) \
             ON CONFLICT (\"message_id\") DO NOTHING"
        );
    }

    #[test]
    fn bad_mappings_are_refused() {
        let mut tables = orders();
        tables.get_mut("order").unwrap().table = "drop table;".into();
        assert!(EntityMappings::new(tables).is_err());
        for natsapi_table in ["messages", "Promises", "natsapi_schema_migrations"] {
            let mut tables = orders();
            tables.get_mut("order").unwrap().table = natsapi_table.into();
            assert!(EntityMappings::new(tables).is_err(), "{natsapi_table}");
        }
        let mut tables = orders();
        tables.get_mut("order").unwrap().columns[0].pointer = "order_id".into();
        assert!(EntityMappings::new(tables).is_err());
    }
}
