//! Promises in PostgreSQL: the queries and the promise part of [`natsapi_core::Tx`].

use natsapi_core::promises::PromiseFilter;
use natsapi_core::{Promise, PromiseState, PromiseTx, TxError};
use postgres::Row;

use super::{Fetched, PgTx, blob, get, limit, map_from, map_param, value_from};
use crate::postgres::connection::PgConn;

/// The column list every promise query selects, in [`promise_from_row`] order.
macro_rules! promise_columns {
    () => {
        "sort_id, id, state, param_headers, param_data, value_headers, value_data, timeout, \
         idempotency_key_for_create, idempotency_key_for_complete, tags, created_on, completed_on"
    };
}

const SELECT_BY_ID: &str = concat!("SELECT ", promise_columns!(), " FROM promises WHERE id = $1");

const LOCK_BY_ID: &str =
    concat!("SELECT ", promise_columns!(), " FROM promises WHERE id = $1 FOR UPDATE");

/// Pending promises whose deadline has passed, earliest first.
const SELECT_DUE: &str = concat!(
    "SELECT ",
    promise_columns!(),
    " FROM promises WHERE state = 1 AND timeout <= $1 ORDER BY timeout LIMIT $2"
);

/// Due promises to time out, locked. Not `SKIP LOCKED`, unlike the other claims: a search times
/// out the due promises it would show too, and must not answer while another writer is timing
/// one out (it would show it pending, or miss it). A writer that waits finds the row settled
/// (PostgreSQL checks the condition again on the committed row) and leaves it.
const CLAIM_DUE: &str = concat!(
    "SELECT ",
    promise_columns!(),
    " FROM promises WHERE state = 1 AND timeout <= $1 ORDER BY timeout LIMIT $2 FOR UPDATE"
);

const INSERT: &str = "INSERT INTO promises (id, state, param_headers, param_data, value_headers, \
     value_data, timeout, idempotency_key_for_create, idempotency_key_for_complete, tags, \
     created_on, completed_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (id) DO NOTHING RETURNING sort_id";

const COMPLETE: &str = "UPDATE promises SET state = $2, value_headers = $3, value_data = $4, \
     idempotency_key_for_complete = $5, completed_on = $6 WHERE id = $1 AND state = 1";

fn promise_from_row(row: &Row) -> Result<Promise, TxError> {
    let state_bit: i16 = get(row, 2)?;
    let state = PromiseState::from_bit(i64::from(state_bit))
        .ok_or_else(|| TxError::msg(format!("unknown promise state {state_bit}")))?;
    Ok(Promise {
        sort_id: get(row, 0)?,
        id: get(row, 1)?,
        state,
        param: value_from(row, 3, 4)?,
        value: value_from(row, 5, 6)?,
        timeout: get(row, 7)?,
        idempotency_key_for_create: get(row, 8)?,
        idempotency_key_for_complete: get(row, 9)?,
        tags: map_from(row, 10)?,
        created_on: get(row, 11)?,
        completed_on: get(row, 12)?,
    })
}

/// Promises by id, fetched in one statement.
const SELECT_BY_IDS: &str =
    concat!("SELECT ", promise_columns!(), " FROM promises WHERE id = ANY($1)");

/// The promises with `ids`, in one statement: each id with its promise, or `None` when absent.
pub(in crate::postgres) fn fetch_promises(
    conn: &mut PgConn,
    ids: &[&str],
) -> Result<Fetched, TxError> {
    let mut tx = PgTx::reader(conn, None);
    let rows = tx.query(SELECT_BY_IDS, &[&ids])?;
    let mut fetched: Fetched = ids.iter().map(|id| ((*id).to_owned(), None)).collect();
    for promise in tx.decode(rows, promise_from_row)? {
        fetched.insert(promise.id.clone(), Some(promise));
    }
    Ok(fetched)
}

impl PromiseTx for PgTx<'_> {
    fn promise(&mut self, id: &str) -> Result<Option<Promise>, TxError> {
        if let Some(fetched) = self.fetched.and_then(|fetched| fetched.get(id)) {
            return Ok(fetched.clone());
        }
        let sql = if self.writable { LOCK_BY_ID } else { SELECT_BY_ID };
        let row = self.query_opt(sql, &[&id])?;
        self.decode_opt(row, promise_from_row)
    }

    fn insert_promise(&mut self, p: &mut Promise) -> Result<bool, TxError> {
        self.before_write()?;
        let state = i16::from(p.state.bit());
        let row = self.query_opt(
            INSERT,
            &[
                &p.id,
                &state,
                &map_param(&p.param.headers),
                &blob(&p.param.data),
                &map_param(&p.value.headers),
                &blob(&p.value.data),
                &p.timeout,
                &p.idempotency_key_for_create,
                &p.idempotency_key_for_complete,
                &map_param(&p.tags),
                &p.created_on,
                &p.completed_on,
            ],
        )?;
        match row {
            Some(row) => {
                p.sort_id = get(&row, 0)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn complete_promise(&mut self, p: &Promise) -> Result<(), TxError> {
        let state = i16::from(p.state.bit());
        let changed = self.execute(
            COMPLETE,
            &[
                &p.id,
                &state,
                &map_param(&p.value.headers),
                &blob(&p.value.data),
                &p.idempotency_key_for_complete,
                &p.completed_on,
            ],
        )?;
        if changed != 1 {
            return Err(TxError::msg(format!("promise {:?} is not pending", p.id)));
        }
        Ok(())
    }

    fn search_promises(
        &mut self,
        filter: &PromiseFilter,
        before: Option<i64>,
        limit_to: usize,
    ) -> Result<Vec<Promise>, TxError> {
        let before = before.unwrap_or(i64::MAX);
        let states = i16::from(filter.states.0);
        let pattern = like_pattern(&filter.id);
        let tags = map_param(&filter.tags);
        let rows = self.query(
            concat!(
                "SELECT ",
                promise_columns!(),
                " FROM promises WHERE sort_id < $1 AND (state & $2) <> 0 AND id LIKE $3 \
                 AND ($4::jsonb IS NULL OR tags @> $4) ORDER BY sort_id DESC LIMIT $5"
            ),
            &[&before, &states, &pattern, &tags, &limit(limit_to)],
        )?;
        self.decode(rows, promise_from_row)
    }

    fn due_promises(&mut self, now: i64, limit_to: usize) -> Result<Vec<Promise>, TxError> {
        let sql = if self.writable { CLAIM_DUE } else { SELECT_DUE };
        let rows = self.query(sql, &[&now, &limit(limit_to)])?;
        self.decode(rows, promise_from_row)
    }

    fn next_promise_deadline(&mut self) -> Result<Option<i64>, TxError> {
        let row = self.query_opt("SELECT min(timeout) FROM promises WHERE state = 1", &[])?;
        match row {
            Some(row) => get(&row, 0),
            None => Ok(None),
        }
    }
}

/// A search id pattern (`*` is the only wildcard) as a `LIKE` pattern: `*` becomes `%`, and the
/// characters `LIKE` treats specially (`%`, `_` and the escape `\`) match themselves.
pub(super) fn like_pattern(glob: &str) -> String {
    let mut like = String::with_capacity(glob.len() + 4);
    for c in glob.chars() {
        match c {
            '*' => like.push('%'),
            '%' | '_' | '\\' => {
                like.push('\\');
                like.push(c);
            }
            c => like.push(c),
        }
    }
    like
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn only_star_is_a_wildcard() {
        assert_eq!(like_pattern("a*b"), "a%b");
        assert_eq!(like_pattern("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(like_pattern("*"), "%");
    }
}
