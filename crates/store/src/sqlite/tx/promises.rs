//! Promises in SQLite: the queries and the promise part of [`natsapi_core::Tx`].

use natsapi_core::promises::PromiseFilter;
use natsapi_core::{Promise, PromiseState, PromiseTx, TxError};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteTx, blob, map_from, map_json, tx_err, value_from};

/// The column list every promise query selects, in [`promise_from_row`] order (a macro, so the
/// fixed queries below are string literals: no formatting per call).
macro_rules! promise_columns {
    () => {
        "sort_id, id, state, param_headers, param_data, value_headers, value_data, timeout, \
         idempotency_key_for_create, idempotency_key_for_complete, tags, created_on, completed_on"
    };
}

/// The column list as a constant, for the queries built at run time.
const PROMISE_COLUMNS: &str = promise_columns!();

/// One promise by id.
const SELECT_BY_ID: &str = concat!("SELECT ", promise_columns!(), " FROM promises WHERE id = ?1");

/// Pending promises whose deadline has passed, earliest first.
const SELECT_DUE: &str = concat!(
    "SELECT ",
    promise_columns!(),
    " FROM promises WHERE state = 1 AND timeout <= ?1 ORDER BY timeout LIMIT ?2"
);

fn promise_from_row(row: &Row<'_>) -> rusqlite::Result<Promise> {
    let state_bit: i64 = row.get(2)?;
    let state = PromiseState::from_bit(state_bit).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            Type::Integer,
            format!("unknown promise state {state_bit}").into(),
        )
    })?;
    Ok(Promise {
        sort_id: row.get(0)?,
        id: row.get(1)?,
        state,
        param: value_from(row, 3, 4)?,
        value: value_from(row, 5, 6)?,
        timeout: row.get(7)?,
        idempotency_key_for_create: row.get(8)?,
        idempotency_key_for_complete: row.get(9)?,
        tags: map_from(row, 10)?,
        created_on: row.get(11)?,
        completed_on: row.get(12)?,
    })
}

impl PromiseTx for SqliteTx<'_> {
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError> {
        let mut stmt = self.conn.prepare_cached(SELECT_BY_ID).map_err(tx_err)?;
        stmt.query_row([id], promise_from_row).optional().map_err(tx_err)
    }

    fn insert_promise(&mut self, p: &mut Promise) -> Result<bool, TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO promises (id, state, param_headers, param_data, value_headers, \
                 value_data, timeout, idempotency_key_for_create, idempotency_key_for_complete, \
                 tags, created_on, completed_on) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .map_err(tx_err)?;
        let inserted = stmt
            .execute(params![
                p.id,
                p.state.bit(),
                map_json(&p.param.headers),
                blob(&p.param.data),
                map_json(&p.value.headers),
                blob(&p.value.data),
                p.timeout,
                p.idempotency_key_for_create,
                p.idempotency_key_for_complete,
                map_json(&p.tags),
                p.created_on,
                p.completed_on,
            ])
            .map_err(tx_err)?;
        if inserted == 1 {
            p.sort_id = self.conn.last_insert_rowid();
        }
        Ok(inserted == 1)
    }

    fn complete_promise(&mut self, p: &Promise) -> Result<(), TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE promises SET state = ?2, value_headers = ?3, value_data = ?4, \
                 idempotency_key_for_complete = ?5, completed_on = ?6 WHERE id = ?1 AND state = 1",
            )
            .map_err(tx_err)?;
        let changed = stmt
            .execute(params![
                p.id,
                p.state.bit(),
                map_json(&p.value.headers),
                blob(&p.value.data),
                p.idempotency_key_for_complete,
                p.completed_on,
            ])
            .map_err(tx_err)?;
        if changed != 1 {
            return Err(TxError::msg(format!("promise {:?} is not pending", p.id)));
        }
        Ok(())
    }

    fn search_promises(
        &mut self,
        filter: &PromiseFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Promise>, TxError> {
        let sql = format!(
            "SELECT {PROMISE_COLUMNS} FROM promises WHERE sort_id < ?1 AND (state & ?2) != 0 \
             AND natsapi_glob(?3, id)"
        );
        let args: Vec<Box<dyn rusqlite::ToSql>> = vec![
            Box::new(before.unwrap_or(i64::MAX)),
            Box::new(filter.states.0),
            Box::new(filter.id.clone()),
        ];
        self.search_page(sql, args, "promises", &filter.tags, limit, promise_from_row)
    }

    fn due_promises(&mut self, now: i64, limit: usize) -> Result<Vec<Promise>, TxError> {
        let mut stmt = self.conn.prepare_cached(SELECT_DUE).map_err(tx_err)?;
        let rows = stmt.query_map(params![now, limit as i64], promise_from_row).map_err(tx_err)?;
        rows.collect::<Result<_, _>>().map_err(tx_err)
    }

    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT min(timeout) FROM promises WHERE state = 1")
            .map_err(tx_err)?;
        stmt.query_row([], |r| r.get(0)).map_err(tx_err)
    }
}
