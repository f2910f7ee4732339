//! New promises a writer holds back and inserts together, in one statement for the group instead
//! of one round trip each.
//!
//! Before a group runs, its writer notes the promise each job reads first (for a create, the one
//! it inserts). At the group's first insert of a promise, one statement finds which of those ids
//! are absent and draws their `sort_id`s; an insert of an absent id is then held back (the
//! operation is told it inserted),
//! and the rows go in together, with `ON CONFLICT DO NOTHING`, before the operation's next
//! statement of any other kind, or at the end of the group. So every read sees the held-back rows
//! as if they had been inserted on the spot.
//!
//! A row that does not go in (another transaction inserted the id since it was found absent), or
//! a failed insert, makes the statement that sent it fail as a conflict: the writer rolls back,
//! stops holding back for the rest of the group, and replays it, where each create inserts on its
//! own and sees the row that is there. A rollback drops what is held back with the rest.

use std::collections::HashMap;

use natsapi_core::{Promise, TxError};
use postgres::types::Json;

use super::{blob, map_param};
use crate::postgres::connection::PgConn;

/// Inserts all held-back promises; returns the ids that went in.
const INSERT_MANY: &str = "INSERT INTO promises (sort_id, id, state, param_headers, param_data, \
     value_headers, value_data, timeout, idempotency_key_for_create, \
     idempotency_key_for_complete, tags, created_on, completed_on) \
     SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int2[], $4::jsonb[], $5::bytea[], \
     $6::jsonb[], $7::bytea[], $8::int8[], $9::text[], $10::text[], $11::jsonb[], $12::int8[], \
     $13::int8[]) ON CONFLICT (id) DO NOTHING RETURNING id";

/// Which ids of a list are absent, each with the `sort_id` its promise will have, drawn from the
/// column's sequence in the order of the list. An id that ends up not inserted (a read, a refused
/// create, a repeat) leaves a gap, as sequences do.
const ABSENT: &str = "SELECT planned.id, nextval(pg_get_serial_sequence('promises', 'sort_id')) \
     FROM UNNEST($1::text[]) WITH ORDINALITY AS planned(id, n) \
     WHERE NOT EXISTS (SELECT 1 FROM promises WHERE promises.id = planned.id) ORDER BY planned.n";

/// A writer's held-back promises, for its current group.
#[derive(Default)]
pub(in crate::postgres) struct HeldBack {
    /// The promises the group's jobs read first, until their absence is checked.
    planned: Vec<String>,
    /// Of those, the ids found absent and not inserted yet, with their promise's `sort_id`.
    absent: HashMap<String, i64>,
    /// Whether inserts may be held back in this group.
    enabled: bool,
    rows: Vec<Promise>,
}

impl HeldBack {
    /// A new group whose jobs read `planned` first. Holding back pays only for two or more.
    pub(in crate::postgres) fn plan(&mut self, planned: Vec<String>) {
        self.rows.clear();
        self.absent.clear();
        self.enabled = planned.len() >= 2;
        self.planned = planned;
    }

    /// The transaction was rolled back: what was held back is gone, and the rest of the group
    /// inserts one by one.
    pub(in crate::postgres) fn stop(&mut self) {
        self.enabled = false;
        self.planned.clear();
        self.absent.clear();
        self.rows.clear();
    }

    /// Whether anything waits to be inserted.
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Holds `promise` back if its id was found absent (checking the group's ids first, once),
    /// and gives it its `sort_id`; returns whether it did. An error means the check failed.
    pub(super) fn hold(
        &mut self,
        conn: &mut PgConn,
        promise: &mut Promise,
    ) -> Result<bool, postgres::Error> {
        if !self.enabled {
            return Ok(false);
        }
        if !self.planned.is_empty() {
            let planned = std::mem::take(&mut self.planned);
            let statement = conn.statement(ABSENT)?;
            let rows = conn.run_statement(|c| c.query(&statement, &[&planned]))?;
            self.absent = rows
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_, postgres::Error>>()?;
        }
        let Some(sort_id) = self.absent.remove(&promise.id) else { return Ok(false) };
        promise.sort_id = sort_id;
        self.rows.push(promise.clone());
        Ok(true)
    }

    /// Inserts what is held back. `Ok(false)` when a row did not go in: its id was taken
    /// meanwhile.
    pub(super) fn send(&mut self, conn: &mut PgConn) -> Result<bool, TxError> {
        let rows = std::mem::take(&mut self.rows);
        if rows.is_empty() {
            return Ok(true);
        }
        let sort_ids: Vec<i64> = rows.iter().map(|p| p.sort_id).collect();
        let ids: Vec<&str> = rows.iter().map(|p| p.id.as_str()).collect();
        let states: Vec<i16> = rows.iter().map(|p| i16::from(p.state.bit())).collect();
        let param_headers: Vec<Option<Json<_>>> =
            rows.iter().map(|p| map_param(&p.param.headers)).collect();
        let param_data: Vec<Option<&[u8]>> = rows.iter().map(|p| blob(&p.param.data)).collect();
        let value_headers: Vec<Option<Json<_>>> =
            rows.iter().map(|p| map_param(&p.value.headers)).collect();
        let value_data: Vec<Option<&[u8]>> = rows.iter().map(|p| blob(&p.value.data)).collect();
        let timeouts: Vec<i64> = rows.iter().map(|p| p.timeout).collect();
        let create_keys: Vec<Option<&str>> =
            rows.iter().map(|p| p.idempotency_key_for_create.as_deref()).collect();
        let complete_keys: Vec<Option<&str>> =
            rows.iter().map(|p| p.idempotency_key_for_complete.as_deref()).collect();
        let tags: Vec<Option<Json<_>>> = rows.iter().map(|p| map_param(&p.tags)).collect();
        let created: Vec<i64> = rows.iter().map(|p| p.created_on).collect();
        let completed: Vec<Option<i64>> = rows.iter().map(|p| p.completed_on).collect();
        let statement = conn.statement(INSERT_MANY).map_err(TxError::new)?;
        let inserted = conn
            .run_statement(|c| {
                c.query(
                    &statement,
                    &[
                        &sort_ids,
                        &ids,
                        &states,
                        &param_headers,
                        &param_data,
                        &value_headers,
                        &value_data,
                        &timeouts,
                        &create_keys,
                        &complete_keys,
                        &tags,
                        &created,
                        &completed,
                    ],
                )
            })
            .map_err(TxError::new)?;
        Ok(inserted.len() == rows.len())
    }
}
