//! Rows of the `messages` table: written by the gateway (accepted) and the worker (processing,
//! processed, failed, dead-lettered), read by the status endpoint. There is one row per message,
//! the one record of its status, whichever process wrote it last.
//!
//! The table is a family of the store (its migrations are the store's); every function here runs
//! portable SQL ([`natsapi_core::sql`]) on the transaction it is given, so the same code serves
//! SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::OnceLock;

use natsapi_core::TxError;
use natsapi_core::sql::{SqlRow, SqlTx, SqlValue};
use uuid::Uuid;

use crate::status::MessageStatus;

/// A row of `messages` that natsapi cannot read.
#[derive(Debug, thiserror::Error)]
#[error("messages row {message_id}: {problem}")]
pub struct BadRow {
    /// The row's `message_id`, as stored.
    pub message_id: String,
    /// What is wrong with it.
    pub problem: String,
}

/// What the gateway knows of a message before publishing it.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The message id.
    pub message_id: Uuid,
    /// Its entity type.
    pub entity_type: String,
    /// Its source.
    pub source: Option<String>,
    /// When the gateway received it (epoch ms).
    pub received_at: i64,
    /// Its [`crate::fingerprint`], when it was sent with an `Idempotency-Key`.
    pub fingerprint: Option<String>,
}

/// What [`insert_accepted`] found for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insertion {
    /// This call created the row.
    Created,
    /// A row for the id was there already.
    Exists {
        /// The fingerprint stored with the row.
        fingerprint: Option<String>,
        /// The message's JetStream sequence, once a worker has recorded it.
        stream_seq: Option<u64>,
    },
}

impl Accepted {
    /// Whether the message's id is new: one sent without an `Idempotency-Key` gets a new (v7)
    /// id, whose row cannot exist yet. Only a keyed message may find its row there.
    fn fresh(&self) -> bool {
        self.fingerprint.is_none()
    }
}

/// Rows one insert statement takes, largest first: a group is cut into statements of these
/// sizes, so that a few statement texts (each prepared once) serve groups of every size.
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// The insert of `CHUNKS[size]` accepted messages; with `returning`, it answers the ids it
/// inserted. Built once per process.
fn insert_sql(size: usize, returning: bool) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        let build = |rows: usize, returning: bool| {
            let values: Vec<String> = (0..rows)
                .map(|row| {
                    let p = row * 5;
                    format!(
                        "(${}, ${}, ${}, 'accepted', 0, ${}, ${}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 4,
                        p + 5
                    )
                })
                .collect();
            format!(
                "INSERT INTO messages (message_id, entity_type, source, status, attempts, \
                 received_at, updated_at, fingerprint) VALUES {} \
                 ON CONFLICT (message_id) DO NOTHING{}",
                values.join(", "),
                if returning { " RETURNING message_id" } else { "" }
            )
        };
        CHUNKS.iter().flat_map(|&rows| [build(rows, false), build(rows, true)]).collect()
    });
    &all[size * 2 + usize::from(returning)]
}

/// Inserts `messages` as accepted, a chunk at a time; with `returning`, answers how many times
/// each id was inserted.
fn insert_chunks(
    tx: &mut dyn SqlTx,
    messages: &[&Accepted],
    returning: bool,
) -> Result<HashMap<String, usize>, TxError> {
    let mut inserted: HashMap<String, usize> = HashMap::new();
    let mut rest = messages;
    while !rest.is_empty() {
        let size = CHUNKS.iter().position(|&n| n <= rest.len()).unwrap_or(CHUNKS.len() - 1);
        let (chunk, after) = rest.split_at(CHUNKS[size]);
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for message in chunk {
            params.extend([
                SqlValue::Text(id_text(&message.message_id)),
                SqlValue::Text(message.entity_type.clone()),
                message.source.clone().into(),
                SqlValue::Int(message.received_at),
                message.fingerprint.clone().into(),
            ]);
        }
        let sql = insert_sql(size, returning);
        if returning {
            for row in tx.query(sql, &params)? {
                if let Some(SqlValue::Text(id)) = row.into_iter().next() {
                    *inserted.entry(id).or_default() += 1;
                }
            }
        } else {
            tx.execute(sql, &params)?;
        }
        rest = after;
    }
    Ok(inserted)
}

/// A message id as the table's text key.
fn id_text(id: &Uuid) -> String {
    let mut buffer = [0; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut buffer).to_owned()
}

/// Records each of `messages` as accepted unless a row for its id exists. Answers, for each,
/// whether this call created its row, or what the row that was there holds.
pub fn insert_accepted(
    tx: &mut dyn SqlTx,
    messages: &[Accepted],
) -> Result<Vec<Insertion>, TxError> {
    let (fresh, keyed): (Vec<&Accepted>, Vec<&Accepted>) =
        messages.iter().partition(|message| message.fresh());
    insert_chunks(tx, &fresh, false)?;
    let mut created =
        if keyed.is_empty() { HashMap::new() } else { insert_chunks(tx, &keyed, true)? };
    messages
        .iter()
        .map(|message| {
            if message.fresh() {
                return Ok(Insertion::Created);
            }
            let id = id_text(&message.message_id);
            // An id twice in one group: the first is the one inserted.
            if let Some(count) = created.get_mut(&id).filter(|count| **count > 0) {
                *count -= 1;
                return Ok(Insertion::Created);
            }
            let rows = tx.query(
                "SELECT fingerprint, stream_seq FROM messages WHERE message_id = $1",
                &[SqlValue::Text(id.clone())],
            )?;
            let Some(row) = rows.into_iter().next() else {
                // Deleted since the insert found it (a failed publish tidied away).
                return Ok(Insertion::Exists { fingerprint: None, stream_seq: None });
            };
            let mut row = Columns::new(&id, row);
            Ok(Insertion::Exists { fingerprint: row.opt_text()?, stream_seq: row.opt_seq()? })
        })
        .collect()
}

/// Deletes the rows of messages `ids` that are still `accepted` with no attempt (the only kind
/// the gateway writes): for messages JetStream did not acknowledge. Answers how many rows went.
pub fn forget_accepted(tx: &mut dyn SqlTx, ids: &[Uuid]) -> Result<u64, TxError> {
    let mut deleted = 0;
    for id in ids {
        deleted += tx.execute(
            "DELETE FROM messages WHERE message_id = $1 AND status = 'accepted' AND attempts = 0",
            &[SqlValue::Text(id_text(id))],
        )?;
    }
    Ok(deleted)
}

/// A message as a worker sees it: enough to create its row if the gateway's is missing.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The message id.
    pub message_id: Uuid,
    /// Its entity type.
    pub entity_type: String,
    /// Its source.
    pub source: Option<String>,
    /// When the gateway received it (epoch ms).
    pub received_at: i64,
    /// Which delivery this is (1 for the first).
    pub attempts: i64,
    /// Its JetStream stream sequence.
    pub stream_seq: u64,
    /// Its [`crate::fingerprint`], when the gateway sent one.
    pub fingerprint: Option<String>,
}

impl Delivered {
    /// The stream sequence as the table keeps it.
    fn seq(&self) -> SqlValue {
        SqlValue::Int(i64::try_from(self.stream_seq).unwrap_or(i64::MAX))
    }
}

/// Moves `message` to `status` with `error` (creating its row when missing), unless it is already
/// final. Without an `error`, the row keeps the last one (a redelivery marked `processing` still
/// shows why the attempt before failed). Returns whether the row changed.
pub fn set_status(
    tx: &mut dyn SqlTx,
    message: &Delivered,
    status: MessageStatus,
    error: Option<&str>,
    now: i64,
) -> Result<bool, TxError> {
    let changed = tx.execute(
        "INSERT INTO messages (message_id, entity_type, source, status, attempts, error, \
         received_at, updated_at, stream_seq, fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, \
         attempts = CASE WHEN excluded.attempts > messages.attempts \
             THEN excluded.attempts ELSE messages.attempts END, \
         error = COALESCE(excluded.error, messages.error), \
         updated_at = excluded.updated_at, stream_seq = excluded.stream_seq, \
         fingerprint = COALESCE(messages.fingerprint, excluded.fingerprint) \
         WHERE messages.status NOT IN ('processed', 'dead_lettered')",
        &[
            SqlValue::Text(id_text(&message.message_id)),
            SqlValue::Text(message.entity_type.clone()),
            message.source.clone().into(),
            SqlValue::from(status.as_str()),
            SqlValue::Int(message.attempts),
            error.into(),
            SqlValue::Int(message.received_at),
            SqlValue::Int(now),
            message.seq(),
            message.fingerprint.clone().into(),
        ],
    )?;
    Ok(changed == 1)
}

/// The update that marks `CHUNKS[size]` messages processed and answers the ids it changed: `$1`
/// is the time, then five parameters a message (id, attempts, body, stream sequence,
/// fingerprint), joined to the table as a `VALUES` list (its columns are `column1`… in both
/// SQLite and PostgreSQL; each value is cast, so PostgreSQL knows the parameters' types).
fn mark_sql(size: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        CHUNKS
            .iter()
            .map(|&rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let p = 1 + row * 5;
                        format!(
                            "(CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS TEXT), \
                             CAST(${} AS BIGINT), CAST(${} AS TEXT))",
                            p + 1,
                            p + 2,
                            p + 3,
                            p + 4,
                            p + 5
                        )
                    })
                    .collect();
                format!(
                    "UPDATE messages SET status = 'processed', \
                     attempts = CASE WHEN v.column2 > attempts THEN v.column2 ELSE attempts END, \
                     error = NULL, body = v.column3, updated_at = $1, processed_at = $1, \
                     stream_seq = v.column4, fingerprint = COALESCE(fingerprint, v.column5) \
                     FROM (VALUES {}) AS v \
                     WHERE message_id = v.column1 AND status NOT IN ('processed', 'dead_lettered') \
                     RETURNING message_id",
                    values.join(", ")
                )
            })
            .collect()
    });
    &all[size]
}

/// Marks each of `messages` (with its body, JSON text, if it keeps one) processed, unless it is already final.
/// Answers, for each, whether this call applied it: false means an earlier delivery already did
/// (or the same message came twice in `messages`). The rows are updated by key a chunk at a time
/// (the gateway created them before publishing); only a message without a row (one that did not
/// come through a gateway, or whose row was tidied away) is inserted.
pub fn mark_processed(
    tx: &mut dyn SqlTx,
    messages: &[(&Delivered, Option<&str>)],
    now: i64,
) -> Result<Vec<bool>, TxError> {
    let mut updated: HashMap<String, usize> = HashMap::new();
    let mut rest = messages;
    while !rest.is_empty() {
        let size = CHUNKS.iter().position(|&n| n <= rest.len()).unwrap_or(CHUNKS.len() - 1);
        let (chunk, after) = rest.split_at(CHUNKS[size]);
        let mut params = Vec::with_capacity(1 + chunk.len() * 5);
        params.push(SqlValue::Int(now));
        for (message, body) in chunk {
            params.extend([
                SqlValue::Text(id_text(&message.message_id)),
                SqlValue::Int(message.attempts),
                (*body).into(),
                message.seq(),
                message.fingerprint.clone().into(),
            ]);
        }
        for row in tx.query(mark_sql(size), &params)? {
            if let Some(SqlValue::Text(id)) = row.into_iter().next() {
                *updated.entry(id).or_default() += 1;
            }
        }
        rest = after;
    }
    messages
        .iter()
        .map(|(message, body)| {
            let id = id_text(&message.message_id);
            if let Some(count) = updated.get_mut(&id).filter(|count| **count > 0) {
                *count -= 1;
                return Ok(true);
            }
            insert_processed(tx, message, id, *body, now)
        })
        .collect()
}

/// Inserts `message` as processed unless a row for its id exists; answers whether it did.
fn insert_processed(
    tx: &mut dyn SqlTx,
    message: &Delivered,
    id: String,
    body: Option<&str>,
    now: i64,
) -> Result<bool, TxError> {
    let inserted = tx.execute(
        "INSERT INTO messages (message_id, entity_type, source, status, attempts, body, \
         received_at, updated_at, processed_at, stream_seq, fingerprint) \
         VALUES ($1, $2, $3, 'processed', $4, $5, $6, $7, $7, $8, $9) \
         ON CONFLICT (message_id) DO NOTHING",
        &[
            SqlValue::Text(id),
            SqlValue::Text(message.entity_type.clone()),
            message.source.clone().into(),
            SqlValue::Int(message.attempts),
            body.into(),
            SqlValue::Int(message.received_at),
            SqlValue::Int(now),
            message.seq(),
            message.fingerprint.clone().into(),
        ],
    )?;
    Ok(inserted == 1)
}

/// A message's row as the status endpoint shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    /// The message id.
    pub message_id: String,
    /// Its entity type.
    pub entity_type: String,
    /// Its source.
    pub source: Option<String>,
    /// Its status.
    pub status: MessageStatus,
    /// How many deliveries a worker has seen.
    pub attempts: i64,
    /// The last failure, if any.
    pub error: Option<String>,
    /// When the gateway received it (epoch ms).
    pub received_at: i64,
    /// When its status last changed (epoch ms).
    pub updated_at: i64,
    /// When it was applied (epoch ms).
    pub processed_at: Option<i64>,
}

/// The row of message `id`, if any.
pub fn find(tx: &mut dyn SqlTx, id: &Uuid) -> Result<Option<StatusRow>, TxError> {
    let id = id_text(id);
    let rows = tx.query(
        "SELECT entity_type, source, status, attempts, error, received_at, updated_at, \
         processed_at FROM messages WHERE message_id = $1",
        &[SqlValue::Text(id.clone())],
    )?;
    let Some(row) = rows.into_iter().next() else { return Ok(None) };
    let mut row = Columns::new(&id, row);
    let entity_type = row.text()?;
    let source = row.opt_text()?;
    let status = row.text()?;
    let status = MessageStatus::parse(&status)
        .ok_or_else(|| row.bad(format!("unknown status {status:?}")))?;
    Ok(Some(StatusRow {
        entity_type,
        source,
        status,
        attempts: row.int()?,
        error: row.opt_text()?,
        received_at: row.int()?,
        updated_at: row.int()?,
        processed_at: row.opt_int()?,
        message_id: id,
    }))
}

/// Reads a row's columns in order, naming the row in errors.
struct Columns<'a> {
    id: &'a str,
    values: std::vec::IntoIter<SqlValue>,
}

impl<'a> Columns<'a> {
    fn new(id: &'a str, row: SqlRow) -> Self {
        Columns { id, values: row.into_iter() }
    }

    fn bad(&self, problem: String) -> TxError {
        TxError::new(BadRow { message_id: self.id.to_owned(), problem })
    }

    fn next(&mut self) -> SqlValue {
        self.values.next().unwrap_or(SqlValue::Null)
    }

    fn opt_text(&mut self) -> Result<Option<String>, TxError> {
        match self.next() {
            SqlValue::Null => Ok(None),
            SqlValue::Text(s) => Ok(Some(s)),
            other => Err(self.bad(format!("expected text, found {}", other.kind()))),
        }
    }

    fn text(&mut self) -> Result<String, TxError> {
        self.opt_text()?.ok_or_else(|| self.bad("expected text, found null".into()))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, TxError> {
        match self.next() {
            SqlValue::Null => Ok(None),
            SqlValue::Int(n) => Ok(Some(n)),
            other => Err(self.bad(format!("expected an integer, found {}", other.kind()))),
        }
    }

    fn int(&mut self) -> Result<i64, TxError> {
        self.opt_int()?.ok_or_else(|| self.bad("expected an integer, found null".into()))
    }

    /// A stream sequence; a negative one (never written) reads as none.
    fn opt_seq(&mut self) -> Result<Option<u64>, TxError> {
        Ok(self.opt_int()?.and_then(|n| u64::try_from(n).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_of_n_rows_numbers_five_parameters_a_row() {
        assert_eq!(CHUNKS[2], 4);
        let sql = insert_sql(2, true);
        assert!(
            sql.contains(
                "($1, $2, $3, 'accepted', 0, $4, $4, $5), ($6, $7, $8, 'accepted', 0, $9, $9, $10)"
            ),
            "{sql}"
        );
        assert!(sql.ends_with("RETURNING message_id"), "{sql}");
        assert!(insert_sql(2, false).ends_with("DO NOTHING"));
        assert!(insert_sql(3, false).contains("VALUES ($1, $2, $3, 'accepted', 0, $4, $4, $5) ON"));
    }
}
