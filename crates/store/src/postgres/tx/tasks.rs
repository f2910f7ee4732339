//! Tasks and callbacks in PostgreSQL: the queries and their part of [`natsapi_core::Tx`].

use natsapi_core::{Callback, CallbackTx, Message, Task, TaskState, TaskTx, TxError};
use postgres::Row;

use super::{PgTx, get, limit};

/// The task columns every query selects, in [`task_from_row`] order.
macro_rules! task_columns {
    () => {
        "sort_id, id, process_id, state, root_promise_id, recv, mesg, timeout, counter, attempt, \
         ttl, expires_at, created_on, completed_on"
    };
}

const SELECT_TASK: &str = concat!("SELECT ", task_columns!(), " FROM tasks WHERE id = $1");

const LOCK_TASK: &str = concat!("SELECT ", task_columns!(), " FROM tasks WHERE id = $1 FOR UPDATE");

const SELECT_LIVE_OF_ROOT: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE root_promise_id = $1 AND state IN (1, 2, 4) ORDER BY sort_id"
);

const LOCK_LIVE_OF_ROOT: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE root_promise_id = $1 AND state IN (1, 2, 4) ORDER BY sort_id FOR UPDATE"
);

/// Locks an execution: its root promise's row. Whoever adds or changes a task of the execution
/// holds it, so two writers never both see "no live task" and both add one.
const LOCK_ROOT: &str = "SELECT 1 FROM promises WHERE id = $1 FOR UPDATE";

/// Due INIT tasks of executions with nothing delivered or claimed: the oldest due one per root.
macro_rules! deliverable {
    () => {
        concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks t WHERE t.state = 1 AND t.expires_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.root_promise_id = t.root_promise_id \
                             AND s.state IN (2, 4)) \
             AND NOT EXISTS (SELECT 1 FROM tasks u WHERE u.root_promise_id = t.root_promise_id \
                             AND u.state = 1 AND u.expires_at <= $1 AND u.sort_id < t.sort_id) \
             ORDER BY t.sort_id LIMIT $2"
        )
    };
}

const SELECT_DELIVERABLE: &str = deliverable!();
const CLAIM_DELIVERABLE: &str = concat!(deliverable!(), " FOR UPDATE OF t SKIP LOCKED");

macro_rules! expired {
    () => {
        concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE state IN (2, 4) \
             AND ((expires_at <> 0 AND expires_at <= $1) OR timeout <= $1) \
             ORDER BY sort_id LIMIT $2"
        )
    };
}

const SELECT_EXPIRED: &str = expired!();
const CLAIM_EXPIRED: &str = concat!(expired!(), " FOR UPDATE SKIP LOCKED");

const SELECT_CLAIMED_BY: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE state = 4 AND process_id = $1 ORDER BY sort_id"
);

const LOCK_CLAIMED_BY: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE state = 4 AND process_id = $1 ORDER BY sort_id FOR UPDATE"
);

const NEXT_DEADLINE: &str = "SELECT min(d) FROM ( \
     SELECT min(t.expires_at) AS d FROM tasks t WHERE t.state = 1 \
       AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.root_promise_id = t.root_promise_id \
                       AND s.state IN (2, 4)) \
     UNION ALL \
     SELECT min(CASE WHEN expires_at <> 0 AND expires_at < timeout THEN expires_at \
                     ELSE timeout END) FROM tasks WHERE state IN (2, 4)) deadlines";

const INSERT_TASK: &str = "INSERT INTO tasks (id, process_id, state, root_promise_id, recv, mesg, \
     timeout, counter, attempt, ttl, expires_at, created_on, completed_on) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (id) DO NOTHING RETURNING sort_id";

const UPDATE_TASK: &str = "UPDATE tasks SET process_id = $2, state = $3, timeout = $4, \
     counter = $5, attempt = $6, ttl = $7, expires_at = $8, completed_on = $9 WHERE id = $1";

const INSERT_CALLBACK: &str = "INSERT INTO callbacks (id, promise_id, root_promise_id, recv, mesg, \
     timeout, created_on) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";

const TAKE_CALLBACKS: &str = "DELETE FROM callbacks WHERE promise_id = $1 \
     RETURNING sort_id, id, promise_id, root_promise_id, recv, mesg, timeout, created_on";

fn mesg_from(row: &Row, index: usize) -> Result<Message, TxError> {
    let text: String = get(row, index)?;
    serde_json::from_str(&text).map_err(|e| TxError::msg(format!("stored task message: {e}")))
}

fn mesg_json(mesg: &Message) -> Result<String, TxError> {
    serde_json::to_string(mesg).map_err(|e| TxError::msg(format!("encode task message: {e}")))
}

fn task_from_row(row: &Row) -> Result<Task, TxError> {
    let bit: i16 = get(row, 3)?;
    let state = TaskState::from_bit(i64::from(bit))
        .ok_or_else(|| TxError::msg(format!("unknown task state {bit}")))?;
    Ok(Task {
        sort_id: get(row, 0)?,
        id: get(row, 1)?,
        process_id: get(row, 2)?,
        state,
        root_promise_id: get(row, 4)?,
        recv: get(row, 5)?,
        mesg: mesg_from(row, 6)?,
        timeout: get(row, 7)?,
        counter: get(row, 8)?,
        attempt: get(row, 9)?,
        ttl: get(row, 10)?,
        expires_at: get(row, 11)?,
        created_on: get(row, 12)?,
        completed_on: get(row, 13)?,
    })
}

/// A callback from a row of [`TAKE_CALLBACKS`] (its sort id first, for ordering).
fn callback_from_row(row: &Row) -> Result<(i64, Callback), TxError> {
    Ok((
        get(row, 0)?,
        Callback {
            id: get(row, 1)?,
            promise_id: get(row, 2)?,
            root_promise_id: get(row, 3)?,
            recv: get(row, 4)?,
            mesg: mesg_from(row, 5)?,
            timeout: get(row, 6)?,
            created_on: get(row, 7)?,
        },
    ))
}

impl PgTx<'_> {
    /// The tasks `read` (a reader's query) or `lock` (the writer's) selects.
    fn tasks_where(
        &mut self,
        read: &str,
        lock: &str,
        params: &super::Params<'_>,
    ) -> Result<Vec<Task>, TxError> {
        let sql = if self.writable { lock } else { read };
        let rows = self.query(sql, params)?;
        self.decode(rows, task_from_row)
    }
}

impl TaskTx for PgTx<'_> {
    fn task(&mut self, id: &str) -> Result<Option<Task>, TxError> {
        let sql = if self.writable { LOCK_TASK } else { SELECT_TASK };
        let row = self.query_opt(sql, &[&id])?;
        self.decode_opt(row, task_from_row)
    }

    fn insert_task(&mut self, t: &mut Task) -> Result<bool, TxError> {
        self.before_write()?;
        let state = i16::from(t.state.bit());
        let mesg = mesg_json(&t.mesg)?;
        let row = self.query_opt(
            INSERT_TASK,
            &[
                &t.id,
                &t.process_id,
                &state,
                &t.root_promise_id,
                &t.recv,
                &mesg,
                &t.timeout,
                &t.counter,
                &t.attempt,
                &t.ttl,
                &t.expires_at,
                &t.created_on,
                &t.completed_on,
            ],
        )?;
        match row {
            Some(row) => {
                t.sort_id = get(&row, 0)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn update_task(&mut self, t: &Task) -> Result<(), TxError> {
        let state = i16::from(t.state.bit());
        let changed = self.execute(
            UPDATE_TASK,
            &[
                &t.id,
                &t.process_id,
                &state,
                &t.timeout,
                &t.counter,
                &t.attempt,
                &t.ttl,
                &t.expires_at,
                &t.completed_on,
            ],
        )?;
        if changed != 1 {
            return Err(TxError::msg(format!("update of unknown task {:?}", t.id)));
        }
        Ok(())
    }

    fn active_tasks_of_root(&mut self, root: &str) -> Result<Vec<Task>, TxError> {
        if self.writable {
            self.query(LOCK_ROOT, &[&root])?;
        }
        self.tasks_where(SELECT_LIVE_OF_ROOT, LOCK_LIVE_OF_ROOT, &[&root])
    }

    fn deliverable_tasks(&mut self, now: i64, limit_to: usize) -> Result<Vec<Task>, TxError> {
        self.tasks_where(SELECT_DELIVERABLE, CLAIM_DELIVERABLE, &[&now, &limit(limit_to)])
    }

    fn expired_tasks(&mut self, now: i64, limit_to: usize) -> Result<Vec<Task>, TxError> {
        self.tasks_where(SELECT_EXPIRED, CLAIM_EXPIRED, &[&now, &limit(limit_to)])
    }

    fn claimed_tasks(&mut self, process_id: &str) -> Result<Vec<Task>, TxError> {
        self.tasks_where(SELECT_CLAIMED_BY, LOCK_CLAIMED_BY, &[&process_id])
    }

    fn next_task_deadline(&mut self) -> Result<Option<i64>, TxError> {
        let row = self.query_opt(NEXT_DEADLINE, &[])?;
        match row {
            Some(row) => get(&row, 0),
            None => Ok(None),
        }
    }
}

impl CallbackTx for PgTx<'_> {
    fn insert_callback(&mut self, c: &Callback) -> Result<bool, TxError> {
        let mesg = mesg_json(&c.mesg)?;
        let inserted = self.execute(
            INSERT_CALLBACK,
            &[&c.id, &c.promise_id, &c.root_promise_id, &c.recv, &mesg, &c.timeout, &c.created_on],
        )?;
        Ok(inserted == 1)
    }

    fn take_callbacks(&mut self, promise_id: &str) -> Result<Vec<Callback>, TxError> {
        self.before_write()?;
        let rows = self.query(TAKE_CALLBACKS, &[&promise_id])?;
        let mut taken = self.decode(rows, callback_from_row)?;
        // RETURNING has no order: hand them out in the order they were made.
        taken.sort_by_key(|(sort_id, _)| *sort_id);
        Ok(taken.into_iter().map(|(_, callback)| callback).collect())
    }
}
