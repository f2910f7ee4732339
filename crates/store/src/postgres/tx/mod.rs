//! [`natsapi_core::Tx`] over a PostgreSQL connection.
//!
//! On a writer the connection is inside the group's transaction; on a reader each statement runs
//! on its own (autocommit), and every write fails with [`TxError::needs_write`].
//!
//! On the write path a read of a row by key locks it (`FOR UPDATE`) and a scan whose rows the
//! operation will change claims them (`FOR UPDATE SKIP LOCKED`): writers of this store and of
//! other instances run side by side, and an operation must not decide on a row that another
//! transaction is changing. A read that finds no row locks nothing; the insert that follows is
//! either insert-if-absent (whose answer the operation checks) or fails on the unique key, which
//! the writer treats as a conflict and runs the operation again.
//!
//! An error ends a PostgreSQL transaction: after one, every statement fails until a rollback.
//! [`PgTx::outcome`] tells the writer whether the operation errored, conflicted or wrote.

mod locks;
mod promises;

pub(super) use promises::fetch_promises;
mod schedules;
mod sql;
mod tasks;

use std::collections::BTreeMap;

#[cfg(doc)]
use natsapi_core::LockTx;
use natsapi_core::{TxError, Value};
use postgres::Row;
use postgres::error::SqlState;
use postgres::types::{Json, ToSql};

use super::connection::PgConn;

/// What an operation did to its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// It only read.
    Clean,
    /// It wrote.
    Wrote,
    /// A statement failed: the transaction must be rolled back.
    Errored,
    /// A statement met a concurrent transaction (a deadlock, a serialization failure, a unique
    /// key taken meanwhile): roll back and run the operation again.
    Conflict,
}

/// One operation on a connection.
pub(super) struct PgTx<'c> {
    conn: &'c mut PgConn,
    writable: bool,
    outcome: Outcome,
    /// Lock resources the operation found free (see [`LockTx::put_lock`]).
    absent_locks: Vec<String>,
    /// Promises a reader fetched ahead for a batch of reads (`None`: asked for, absent).
    fetched: Option<&'c Fetched>,
}

/// Promises fetched ahead by id, in one statement for a batch of reads.
pub(super) type Fetched = std::collections::HashMap<String, Option<natsapi_core::Promise>>;

/// Statement parameters.
type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Reads one row as a value.
type FromRow<T> = fn(&Row) -> Result<T, TxError>;

impl<'c> PgTx<'c> {
    /// An operation in the writer's open transaction.
    pub(super) fn writer(conn: &'c mut PgConn) -> Self {
        PgTx {
            conn,
            writable: true,
            outcome: Outcome::Clean,
            absent_locks: Vec::new(),
            fetched: None,
        }
    }

    /// An operation on a read connection, which finds the promises of `fetched` there instead
    /// of reading them again.
    pub(super) fn reader(conn: &'c mut PgConn, fetched: Option<&'c Fetched>) -> Self {
        PgTx { conn, writable: false, outcome: Outcome::Clean, absent_locks: Vec::new(), fetched }
    }

    /// What the operation did.
    pub(super) fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Marks the operation as writing; fails on a read connection.
    fn before_write(&mut self) -> Result<(), TxError> {
        if !self.writable {
            return Err(TxError::needs_write());
        }
        if self.outcome == Outcome::Clean {
            self.outcome = Outcome::Wrote;
        }
        Ok(())
    }

    /// Records a failed statement and turns it into the error operations see.
    fn failed(&mut self, e: postgres::Error) -> TxError {
        let conflict = e.code().is_some_and(|code| {
            [
                &SqlState::T_R_SERIALIZATION_FAILURE,
                &SqlState::T_R_DEADLOCK_DETECTED,
                &SqlState::LOCK_NOT_AVAILABLE,
                // An insert of a key found absent, which another writer inserted meanwhile
                // (the typed inserts say ON CONFLICT; a lock insert and plain SQL may not).
                &SqlState::UNIQUE_VIOLATION,
            ]
            .contains(&code)
        }) || (e.code() == Some(&SqlState::QUERY_CANCELED)
            && self.conn.cancelled_for_deadlock());
        if self.outcome != Outcome::Conflict {
            self.outcome = if conflict { Outcome::Conflict } else { Outcome::Errored };
        }
        TxError::new(e)
    }

    /// The rows `sql` returns.
    fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, TxError> {
        let result = self
            .conn
            .statement(sql)
            .and_then(|statement| self.conn.run_statement(|c| c.query(&statement, params)));
        result.map_err(|e| self.failed(e))
    }

    /// The row `sql` returns, if any.
    fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>, TxError> {
        let result = self
            .conn
            .statement(sql)
            .and_then(|statement| self.conn.run_statement(|c| c.query_opt(&statement, params)));
        result.map_err(|e| self.failed(e))
    }

    /// Runs a writing statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64, TxError> {
        self.before_write()?;
        let result = self
            .conn
            .statement(sql)
            .and_then(|statement| self.conn.run_statement(|c| c.execute(&statement, params)));
        result.map_err(|e| self.failed(e))
    }

    /// Decodes `rows` with `from_row`. A row natsapi cannot read fails the operation like a
    /// failed statement.
    fn decode<T>(&mut self, rows: Vec<Row>, from_row: FromRow<T>) -> Result<Vec<T>, TxError> {
        rows.iter().map(from_row).collect::<Result<_, _>>().inspect_err(|_| self.undecodable())
    }

    /// Decodes `row`, if any, with `from_row`.
    fn decode_opt<T>(
        &mut self,
        row: Option<Row>,
        from_row: FromRow<T>,
    ) -> Result<Option<T>, TxError> {
        row.as_ref().map(from_row).transpose().inspect_err(|_| self.undecodable())
    }

    fn undecodable(&mut self) {
        if self.outcome != Outcome::Conflict {
            self.outcome = Outcome::Errored;
        }
    }
}

/// A map as a JSONB parameter, `NULL` when empty (as SQLite stores it).
fn map_param(map: &BTreeMap<String, String>) -> Option<Json<&BTreeMap<String, String>>> {
    (!map.is_empty()).then_some(Json(map))
}

/// A column's value.
fn get<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, index: usize) -> Result<T, TxError> {
    row.try_get(index).map_err(TxError::new)
}

/// A JSONB column as a map; `NULL` is empty.
fn map_from(row: &Row, index: usize) -> Result<BTreeMap<String, String>, TxError> {
    let map: Option<Json<BTreeMap<String, String>>> = get(row, index)?;
    Ok(map.map(|Json(map)| map).unwrap_or_default())
}

/// A value from its headers and data columns.
fn value_from(row: &Row, headers: usize, data: usize) -> Result<Value, TxError> {
    Ok(Value {
        headers: map_from(row, headers)?,
        data: get::<Option<Vec<u8>>>(row, data)?.unwrap_or_default(),
    })
}

/// Bytes as a BYTEA parameter, `NULL` when empty.
fn blob(data: &[u8]) -> Option<&[u8]> {
    (!data.is_empty()).then_some(data)
}

/// A limit as a BIGINT parameter.
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
