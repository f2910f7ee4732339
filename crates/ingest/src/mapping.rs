//! Typed tables without code: a mapping from an entity type to a table whose columns are read
//! from the message body by JSON pointer. The worker creates the tables; each row's primary key
//! is the message id, so a message lands in its table once.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
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
    /// `true` or `false`, stored as 1 or 0.
    Boolean,
    /// Any JSON value, stored as its JSON text.
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

    fn sql(self) -> &'static str {
        match self {
            ColumnType::Text | ColumnType::Json => "TEXT",
            ColumnType::Integer | ColumnType::Boolean => "INTEGER",
            ColumnType::Real => "REAL",
        }
    }

    /// `value` as this column's SQL value, or why it does not fit.
    fn convert(self, value: &Value) -> Result<SqlValue, String> {
        let fits = match (self, value) {
            (ColumnType::Text, Value::String(s)) => Some(SqlValue::Text(s.clone())),
            (ColumnType::Integer, Value::Number(n)) => n.as_i64().map(SqlValue::Integer),
            (ColumnType::Real, Value::Number(n)) => n.as_f64().map(SqlValue::Real),
            (ColumnType::Boolean, Value::Bool(b)) => Some(SqlValue::Integer(i64::from(*b))),
            (ColumnType::Json, v) => Some(SqlValue::Text(v.to_string())),
            _ => None,
        };
        fits.ok_or_else(|| format!("expected {}, got {value}", self.describe()))
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

/// Tables the ingest schema owns, which a mapping may not use.
const RESERVED_TABLES: [&str; 2] = ["messages", "natsapi_ingest_schema"];

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
    /// no table twice, none of the ingest schema's own tables.
    pub fn new(tables: BTreeMap<String, EntityTable>) -> Result<Self, IngestError> {
        let mut seen_tables = BTreeSet::new();
        for (entity, table) in &tables {
            crate::envelope::check_entity_type(entity).map_err(IngestError::Mapping)?;
            check_identifier(&format!("entity {entity}: table"), &table.table)?;
            let lower = table.table.to_ascii_lowercase();
            if RESERVED_TABLES.contains(&lower.as_str()) {
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

    fn create_sql(table: &EntityTable) -> String {
        let mut columns = vec![format!("\"{ID_COLUMN}\" TEXT PRIMARY KEY")];
        for c in &table.columns {
            let not_null = if c.required { " NOT NULL" } else { "" };
            columns.push(format!("\"{}\" {}{not_null}", c.name, c.kind.sql()));
        }
        format!("CREATE TABLE IF NOT EXISTS \"{}\" ({})", table.table, columns.join(", "))
    }

    fn insert_sql(table: &EntityTable) -> String {
        let mut names = vec![format!("\"{ID_COLUMN}\"")];
        names.extend(table.columns.iter().map(|c| format!("\"{}\"", c.name)));
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        format!(
            "INSERT INTO \"{}\" ({}) VALUES ({}) ON CONFLICT (\"{ID_COLUMN}\") DO NOTHING",
            table.table,
            names.join(", "),
            marks.join(", ")
        )
    }

    /// The existing table's columns (name, declared type), lower-cased names.
    fn existing_columns(
        conn: &Connection,
        table: &str,
    ) -> Result<Vec<(String, String)>, IngestError> {
        let mut query = conn.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
        let rows = query.query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?.to_ascii_lowercase(),
                r.get::<_, String>(2)?.to_ascii_uppercase(),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl MessageHandler for EntityMappings {
    /// Creates each table, or checks that an existing one has exactly the mapped columns.
    fn prepare(&self, conn: &Connection) -> Result<(), IngestError> {
        for (entity, table) in &self.tables {
            let existing = Self::existing_columns(conn, &table.table)?;
            if existing.is_empty() {
                conn.execute_batch(&Self::create_sql(table))?;
                continue;
            }
            let mut want = vec![(ID_COLUMN.to_owned(), "TEXT".to_owned())];
            want.extend(
                table
                    .columns
                    .iter()
                    .map(|c| (c.name.to_ascii_lowercase(), c.kind.sql().to_owned())),
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

    fn apply(&self, conn: &Connection, message: &Message<'_>) -> Result<(), ApplyError> {
        let Some(table) = self.tables.get(message.entity_type) else { return Ok(()) };
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
                Some(v) => column.kind.convert(v).map_err(|why| {
                    ApplyError::Permanent(format!(
                        "entity {}: column {}: {}: {why}",
                        message.entity_type, column.name, column.pointer
                    ))
                })?,
            };
            values.push(sql);
        }
        conn.prepare_cached(&Self::insert_sql(table))?
            .execute(rusqlite::params_from_iter(values))?;
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
    fn rows_land_once_and_bad_values_are_permanent() {
        let conn = Connection::open_in_memory().unwrap();
        let mappings = EntityMappings::new(orders()).unwrap();
        mappings.prepare(&conn).unwrap();
        mappings.prepare(&conn).unwrap();
        let body = serde_json::json!({"order_id": "A1", "total": 10.5});
        let id = uuid::Uuid::now_v7();
        let message = Message {
            message_id: id,
            entity_type: "order",
            body: &body,
            source: None,
            attempts: 1,
        };
        mappings.apply(&conn, &message).unwrap();
        mappings.apply(&conn, &message).unwrap();
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 1);
        let bad = serde_json::json!({"order_id": 7});
        let message = Message { body: &bad, message_id: uuid::Uuid::now_v7(), ..message };
        let err = mappings.apply(&conn, &message).unwrap_err();
        assert!(
            matches!(&err, ApplyError::Permanent(m) if m.contains("expected a string")),
            "{err}"
        );
    }

    #[test]
    fn a_table_with_other_columns_is_reported() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE orders (message_id TEXT PRIMARY KEY, amount REAL)")
            .unwrap();
        let err = EntityMappings::new(orders()).unwrap().prepare(&conn).unwrap_err();
        assert!(err.to_string().contains("exists with columns"), "{err}");
    }

    #[test]
    fn bad_mappings_are_refused() {
        let mut tables = orders();
        tables.get_mut("order").unwrap().table = "drop table;".into();
        assert!(EntityMappings::new(tables).is_err());
        let mut tables = orders();
        tables.get_mut("order").unwrap().table = "messages".into();
        assert!(EntityMappings::new(tables).is_err());
        let mut tables = orders();
        tables.get_mut("order").unwrap().columns[0].pointer = "order_id".into();
        assert!(EntityMappings::new(tables).is_err());
    }
}
