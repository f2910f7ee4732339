//! Schedules in SQLite: the queries and the schedule part of [`natsapi_core::Tx`].

use natsapi_core::schedule::ScheduleFilter;
use natsapi_core::{Schedule, ScheduleTx, TxError};
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteTx, blob, map_from, map_json, tx_err, value_from};

/// The column list every schedule query selects, in [`schedule_from_row`] order.
macro_rules! schedule_columns {
    () => {
        "sort_id, id, description, cron, tags, promise_id, promise_timeout, \
         promise_param_headers, promise_param_data, promise_tags, last_run_time, next_run_time, \
         idempotency_key, created_on"
    };
}

/// The column list as a constant, for the queries built at run time.
const SCHEDULE_COLUMNS: &str = schedule_columns!();

/// One schedule by id.
const SELECT_BY_ID: &str = concat!("SELECT ", schedule_columns!(), " FROM schedules WHERE id = ?1");

/// Schedules whose next run has come, in due order.
const SELECT_DUE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE next_run_time <= ?1 ORDER BY next_run_time, sort_id LIMIT ?2"
);

fn schedule_from_row(row: &Row<'_>) -> rusqlite::Result<Schedule> {
    Ok(Schedule {
        sort_id: row.get(0)?,
        id: row.get(1)?,
        description: row.get(2)?,
        cron: row.get(3)?,
        tags: map_from(row, 4)?,
        promise_id: row.get(5)?,
        promise_timeout: row.get(6)?,
        promise_param: value_from(row, 7, 8)?,
        promise_tags: map_from(row, 9)?,
        last_run_time: row.get(10)?,
        next_run_time: row.get(11)?,
        idempotency_key: row.get(12)?,
        created_on: row.get(13)?,
    })
}

impl ScheduleTx for SqliteTx<'_> {
    fn schedule(&mut self, id: &str) -> Result<Option<Schedule>, TxError> {
        let mut stmt = self.conn.prepare_cached(SELECT_BY_ID).map_err(tx_err)?;
        stmt.query_row([id], schedule_from_row).optional().map_err(tx_err)
    }

    fn insert_schedule(&mut self, s: &mut Schedule) -> Result<bool, TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO schedules (id, description, cron, tags, promise_id, \
                 promise_timeout, promise_param_headers, promise_param_data, promise_tags, \
                 last_run_time, next_run_time, idempotency_key, created_on) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .map_err(tx_err)?;
        let inserted = stmt
            .execute(params![
                s.id,
                s.description,
                s.cron,
                map_json(&s.tags),
                s.promise_id,
                s.promise_timeout,
                map_json(&s.promise_param.headers),
                blob(&s.promise_param.data),
                map_json(&s.promise_tags),
                s.last_run_time,
                s.next_run_time,
                s.idempotency_key,
                s.created_on,
            ])
            .map_err(tx_err)?;
        if inserted == 1 {
            s.sort_id = self.conn.last_insert_rowid();
        }
        Ok(inserted == 1)
    }

    fn delete_schedule(&mut self, id: &str) -> Result<bool, TxError> {
        self.before_write()?;
        let mut stmt =
            self.conn.prepare_cached("DELETE FROM schedules WHERE id = ?1").map_err(tx_err)?;
        Ok(stmt.execute([id]).map_err(tx_err)? == 1)
    }

    fn search_schedules(
        &mut self,
        filter: &ScheduleFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Schedule>, TxError> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE sort_id < ?1 AND natsapi_glob(?2, id)"
        );
        let args: Vec<Box<dyn rusqlite::ToSql>> =
            vec![Box::new(before.unwrap_or(i64::MAX)), Box::new(filter.id.clone())];
        self.search_page(sql, args, "schedules", &filter.tags, limit, schedule_from_row)
    }

    fn due_schedules(&mut self, now: i64, limit: usize) -> Result<Vec<Schedule>, TxError> {
        let mut stmt = self.conn.prepare_cached(SELECT_DUE).map_err(tx_err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![now, limit], schedule_from_row).map_err(tx_err)?;
        rows.collect::<Result<_, _>>().map_err(tx_err)
    }

    fn advance_schedule(&mut self, id: &str, last_run: i64, next_run: i64) -> Result<(), TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE schedules SET last_run_time = ?2, next_run_time = ?3 WHERE id = ?1",
            )
            .map_err(tx_err)?;
        let changed = stmt.execute(params![id, last_run, next_run]).map_err(tx_err)?;
        if changed != 1 {
            return Err(TxError::msg(format!("advance of unknown schedule {id:?}")));
        }
        Ok(())
    }

    fn next_schedule_run(&mut self) -> Result<Option<i64>, TxError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT min(next_run_time) FROM schedules").map_err(tx_err)?;
        stmt.query_row([], |r| r.get(0)).map_err(tx_err)
    }
}
