//! Tasks and callbacks in SQLite: the queries and their part of [`natsapi_core::Tx`].

use natsapi_core::{Callback, CallbackTx, Message, Task, TaskState, TaskTx, TxError};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteTx, tx_err};

/// The task columns every query selects, in [`task_from_row`] order.
macro_rules! task_columns {
    () => {
        "sort_id, id, process_id, state, root_promise_id, recv, mesg, timeout, counter, attempt, \
         ttl, expires_at, created_on, completed_on"
    };
}

const SELECT_TASK: &str = concat!("SELECT ", task_columns!(), " FROM tasks WHERE id = ?1");

const SELECT_LIVE_OF_ROOT: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE root_promise_id = ?1 AND state IN (1, 2, 4) ORDER BY sort_id"
);

/// Due INIT tasks of executions with nothing delivered or claimed: the oldest due one per root.
const SELECT_DELIVERABLE: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks t WHERE t.state = 1 AND t.expires_at <= ?1 \
     AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.root_promise_id = t.root_promise_id \
                     AND s.state IN (2, 4)) \
     AND NOT EXISTS (SELECT 1 FROM tasks u WHERE u.root_promise_id = t.root_promise_id \
                     AND u.state = 1 AND u.expires_at <= ?1 AND u.sort_id < t.sort_id) \
     ORDER BY t.sort_id LIMIT ?2"
);

const SELECT_EXPIRED: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE state IN (2, 4) \
     AND ((expires_at != 0 AND expires_at <= ?1) OR timeout <= ?1) ORDER BY sort_id LIMIT ?2"
);

const SELECT_CLAIMED_BY: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE state = 4 AND process_id = ?1 ORDER BY sort_id"
);

const NEXT_DEADLINE: &str = "SELECT min(d) FROM ( \
     SELECT min(t.expires_at) AS d FROM tasks t WHERE t.state = 1 \
       AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.root_promise_id = t.root_promise_id \
                       AND s.state IN (2, 4)) \
     UNION ALL \
     SELECT min(CASE WHEN expires_at != 0 AND expires_at < timeout THEN expires_at \
                     ELSE timeout END) FROM tasks WHERE state IN (2, 4))";

fn conversion(index: usize, ty: Type, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, ty, message.into())
}

fn mesg_from(row: &Row<'_>, index: usize) -> rusqlite::Result<Message> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| conversion(index, Type::Text, e.to_string()))
}

fn mesg_json(mesg: &Message) -> Result<String, TxError> {
    serde_json::to_string(mesg).map_err(|e| TxError::msg(format!("encode task message: {e}")))
}

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    let bit: i64 = row.get(3)?;
    let state = TaskState::from_bit(bit)
        .ok_or_else(|| conversion(3, Type::Integer, format!("unknown task state {bit}")))?;
    Ok(Task {
        sort_id: row.get(0)?,
        id: row.get(1)?,
        process_id: row.get(2)?,
        state,
        root_promise_id: row.get(4)?,
        recv: row.get(5)?,
        mesg: mesg_from(row, 6)?,
        timeout: row.get(7)?,
        counter: row.get(8)?,
        attempt: row.get(9)?,
        ttl: row.get(10)?,
        expires_at: row.get(11)?,
        created_on: row.get(12)?,
        completed_on: row.get(13)?,
    })
}

fn callback_from_row(row: &Row<'_>) -> rusqlite::Result<Callback> {
    Ok(Callback {
        id: row.get(0)?,
        promise_id: row.get(1)?,
        root_promise_id: row.get(2)?,
        recv: row.get(3)?,
        mesg: mesg_from(row, 4)?,
        timeout: row.get(5)?,
        created_on: row.get(6)?,
    })
}

impl SqliteTx<'_> {
    fn tasks_where(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Task>, TxError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(tx_err)?;
        let rows = stmt.query_map(args, task_from_row).map_err(tx_err)?;
        rows.collect::<Result<_, _>>().map_err(tx_err)
    }
}

impl TaskTx for SqliteTx<'_> {
    fn task(&mut self, id: &str) -> Result<Option<Task>, TxError> {
        let mut stmt = self.conn.prepare_cached(SELECT_TASK).map_err(tx_err)?;
        stmt.query_row([id], task_from_row).optional().map_err(tx_err)
    }

    fn insert_task(&mut self, t: &mut Task) -> Result<bool, TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO tasks (id, process_id, state, root_promise_id, recv, mesg, timeout, \
                 counter, attempt, ttl, expires_at, created_on, completed_on) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .map_err(tx_err)?;
        let inserted = stmt
            .execute(params![
                t.id,
                t.process_id,
                t.state.bit(),
                t.root_promise_id,
                t.recv,
                mesg_json(&t.mesg)?,
                t.timeout,
                t.counter,
                t.attempt,
                t.ttl,
                t.expires_at,
                t.created_on,
                t.completed_on,
            ])
            .map_err(tx_err)?;
        if inserted == 1 {
            t.sort_id = self.conn.last_insert_rowid();
        }
        Ok(inserted == 1)
    }

    fn update_task(&mut self, t: &Task) -> Result<(), TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE tasks SET process_id = ?2, state = ?3, timeout = ?4, counter = ?5, \
                 attempt = ?6, ttl = ?7, expires_at = ?8, completed_on = ?9 WHERE id = ?1",
            )
            .map_err(tx_err)?;
        let changed = stmt
            .execute(params![
                t.id,
                t.process_id,
                t.state.bit(),
                t.timeout,
                t.counter,
                t.attempt,
                t.ttl,
                t.expires_at,
                t.completed_on,
            ])
            .map_err(tx_err)?;
        if changed != 1 {
            return Err(TxError::msg(format!("update of unknown task {:?}", t.id)));
        }
        Ok(())
    }

    fn active_tasks_of_root(&mut self, root: &str) -> Result<Vec<Task>, TxError> {
        self.tasks_where(SELECT_LIVE_OF_ROOT, [root])
    }

    fn deliverable_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError> {
        self.tasks_where(SELECT_DELIVERABLE, params![now, limit as i64])
    }

    fn expired_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError> {
        self.tasks_where(SELECT_EXPIRED, params![now, limit as i64])
    }

    fn claimed_tasks(&mut self, process_id: &str) -> Result<Vec<Task>, TxError> {
        self.tasks_where(SELECT_CLAIMED_BY, [process_id])
    }

    fn next_task_deadline(&mut self) -> Result<Option<i64>, TxError> {
        let mut stmt = self.conn.prepare_cached(NEXT_DEADLINE).map_err(tx_err)?;
        stmt.query_row([], |r| r.get(0)).map_err(tx_err)
    }
}

impl CallbackTx for SqliteTx<'_> {
    fn insert_callback(&mut self, c: &Callback) -> Result<bool, TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO callbacks (id, promise_id, root_promise_id, recv, mesg, timeout, \
                 created_on) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )
            .map_err(tx_err)?;
        let inserted = stmt
            .execute(params![
                c.id,
                c.promise_id,
                c.root_promise_id,
                c.recv,
                mesg_json(&c.mesg)?,
                c.timeout,
                c.created_on,
            ])
            .map_err(tx_err)?;
        Ok(inserted == 1)
    }

    fn take_callbacks(&mut self, promise_id: &str) -> Result<Vec<Callback>, TxError> {
        self.before_write()?;
        let taken: Vec<Callback> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT id, promise_id, root_promise_id, recv, mesg, timeout, created_on \
                     FROM callbacks WHERE promise_id = ?1 ORDER BY sort_id",
                )
                .map_err(tx_err)?;
            let rows = stmt.query_map([promise_id], callback_from_row).map_err(tx_err)?;
            rows.collect::<Result<_, _>>().map_err(tx_err)?
        };
        if !taken.is_empty() {
            let mut stmt = self
                .conn
                .prepare_cached("DELETE FROM callbacks WHERE promise_id = ?1")
                .map_err(tx_err)?;
            stmt.execute([promise_id]).map_err(tx_err)?;
        }
        Ok(taken)
    }
}
