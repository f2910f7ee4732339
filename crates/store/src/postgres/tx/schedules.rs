//! Schedules in PostgreSQL: the queries and the schedule part of [`natsapi_core::Tx`].

use natsapi_core::schedule::ScheduleFilter;
use natsapi_core::{Schedule, ScheduleTx, TxError};
use postgres::Row;

use super::promises::like_pattern;
use super::{PgTx, blob, get, limit, map_from, map_param, value_from};

/// The column list every schedule query selects, in [`schedule_from_row`] order.
macro_rules! schedule_columns {
    () => {
        "sort_id, id, description, cron, tags, promise_id, promise_timeout, \
         promise_param_headers, promise_param_data, promise_tags, last_run_time, next_run_time, \
         idempotency_key, created_on"
    };
}

const SELECT_BY_ID: &str = concat!("SELECT ", schedule_columns!(), " FROM schedules WHERE id = $1");

const LOCK_BY_ID: &str =
    concat!("SELECT ", schedule_columns!(), " FROM schedules WHERE id = $1 FOR UPDATE");

macro_rules! due {
    () => {
        concat!(
            "SELECT ",
            schedule_columns!(),
            " FROM schedules WHERE next_run_time <= $1 ORDER BY next_run_time, sort_id LIMIT $2"
        )
    };
}

/// Schedules whose next run has come, in due order.
const SELECT_DUE: &str = due!();
const CLAIM_DUE: &str = concat!(due!(), " FOR UPDATE SKIP LOCKED");

const SEARCH: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE sort_id < $1 AND id LIKE $2 AND ($3::jsonb IS NULL OR tags @> $3) \
     ORDER BY sort_id DESC LIMIT $4"
);

const INSERT: &str = "INSERT INTO schedules (id, description, cron, tags, promise_id, \
     promise_timeout, promise_param_headers, promise_param_data, promise_tags, last_run_time, \
     next_run_time, idempotency_key, created_on) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (id) DO NOTHING RETURNING sort_id";

fn schedule_from_row(row: &Row) -> Result<Schedule, TxError> {
    Ok(Schedule {
        sort_id: get(row, 0)?,
        id: get(row, 1)?,
        description: get(row, 2)?,
        cron: get(row, 3)?,
        tags: map_from(row, 4)?,
        promise_id: get(row, 5)?,
        promise_timeout: get(row, 6)?,
        promise_param: value_from(row, 7, 8)?,
        promise_tags: map_from(row, 9)?,
        last_run_time: get(row, 10)?,
        next_run_time: get(row, 11)?,
        idempotency_key: get(row, 12)?,
        created_on: get(row, 13)?,
    })
}

impl ScheduleTx for PgTx<'_> {
    fn schedule(&mut self, id: &str) -> Result<Option<Schedule>, TxError> {
        let sql = if self.writable { LOCK_BY_ID } else { SELECT_BY_ID };
        let row = self.query_opt(sql, &[&id])?;
        self.decode_opt(row, schedule_from_row)
    }

    fn insert_schedule(&mut self, s: &mut Schedule) -> Result<bool, TxError> {
        self.before_write()?;
        let row = self.query_opt(
            INSERT,
            &[
                &s.id,
                &s.description,
                &s.cron,
                &map_param(&s.tags),
                &s.promise_id,
                &s.promise_timeout,
                &map_param(&s.promise_param.headers),
                &blob(&s.promise_param.data),
                &map_param(&s.promise_tags),
                &s.last_run_time,
                &s.next_run_time,
                &s.idempotency_key,
                &s.created_on,
            ],
        )?;
        match row {
            Some(row) => {
                s.sort_id = get(&row, 0)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn delete_schedule(&mut self, id: &str) -> Result<bool, TxError> {
        Ok(self.execute("DELETE FROM schedules WHERE id = $1", &[&id])? == 1)
    }

    fn search_schedules(
        &mut self,
        filter: &ScheduleFilter,
        before: Option<i64>,
        limit_to: usize,
    ) -> Result<Vec<Schedule>, TxError> {
        let before = before.unwrap_or(i64::MAX);
        let pattern = like_pattern(&filter.id);
        let tags = map_param(&filter.tags);
        let rows = self.query(SEARCH, &[&before, &pattern, &tags, &limit(limit_to)])?;
        self.decode(rows, schedule_from_row)
    }

    fn due_schedules(&mut self, now: i64, limit_to: usize) -> Result<Vec<Schedule>, TxError> {
        let sql = if self.writable { CLAIM_DUE } else { SELECT_DUE };
        let rows = self.query(sql, &[&now, &limit(limit_to)])?;
        self.decode(rows, schedule_from_row)
    }

    fn advance_schedule(&mut self, id: &str, last_run: i64, next_run: i64) -> Result<(), TxError> {
        let changed = self.execute(
            "UPDATE schedules SET last_run_time = $2, next_run_time = $3 WHERE id = $1",
            &[&id, &last_run, &next_run],
        )?;
        if changed != 1 {
            return Err(TxError::msg(format!("advance of unknown schedule {id:?}")));
        }
        Ok(())
    }

    fn next_schedule_run(&mut self) -> Result<Option<i64>, TxError> {
        let row = self.query_opt("SELECT min(next_run_time) FROM schedules", &[])?;
        match row {
            Some(row) => get(&row, 0),
            None => Ok(None),
        }
    }
}
