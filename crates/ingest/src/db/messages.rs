//! Rows of the `messages` table: written by the gateway (accepted) and the worker (processing,
//! processed, failed, dead-lettered), read by the status endpoint. Every function runs on the
//! connection it is given, inside the caller's transaction.

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::error::IngestError;
use crate::status::MessageStatus;

/// Message ids as the table's text key, formatted without an allocation each: one buffer serves
/// many ids.
struct IdText([u8; uuid::fmt::Hyphenated::LENGTH]);

impl IdText {
    fn new() -> Self {
        IdText([0; uuid::fmt::Hyphenated::LENGTH])
    }

    /// `id` in its hyphenated lower-case form, valid until the next call.
    fn of(&mut self, id: &Uuid) -> &str {
        id.hyphenated().encode_lower(&mut self.0)
    }
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
    /// A row for the id was there already, with this fingerprint.
    Exists {
        /// The fingerprint stored with the row.
        fingerprint: Option<String>,
    },
}

/// Records each of `messages` as accepted unless a row for its id exists. Answers, for each,
/// whether this call created its row, or the fingerprint of the row that was there.
pub fn insert_accepted(
    conn: &Connection,
    messages: &[Accepted],
) -> Result<Vec<Insertion>, IngestError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (message_id, entity_type, source, status, attempts, received_at, \
         updated_at, fingerprint) VALUES (?1, ?2, ?3, 'accepted', 0, ?4, ?4, ?5) \
         ON CONFLICT (message_id) DO NOTHING",
    )?;
    let mut text = IdText::new();
    messages
        .iter()
        .map(|message| {
            let id = text.of(&message.message_id);
            let params = params![
                id,
                message.entity_type,
                message.source,
                message.received_at,
                message.fingerprint
            ];
            if insert.execute(params)? == 1 {
                return Ok(Insertion::Created);
            }
            let fingerprint = conn
                .prepare_cached("SELECT fingerprint FROM messages WHERE message_id = ?1")?
                .query_row([id], |r| r.get::<_, Option<String>>(0))
                .optional()?
                .flatten();
            Ok(Insertion::Exists { fingerprint })
        })
        .collect()
}

/// What a worker's data file records of a message: enough to answer a request that sends its
/// `Idempotency-Key` again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The fingerprint the worker stored (none for a message sent without a key, or recorded by
    /// an older natsapi).
    pub fingerprint: Option<String>,
    /// Its JetStream stream sequence.
    pub stream_seq: Option<u64>,
}

/// For each of `ids`, what the worker's data file records of it, if anything. Reads a data file
/// of an older schema (no fingerprints) too.
pub fn find_recorded(
    conn: &Connection,
    ids: &[Uuid],
) -> Result<Vec<Option<Recorded>>, IngestError> {
    let has_fingerprints: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('messages') WHERE name = 'fingerprint')",
        [],
        |r| r.get(0),
    )?;
    let sql = if has_fingerprints {
        "SELECT fingerprint, stream_seq FROM messages WHERE message_id = ?1"
    } else {
        "SELECT NULL, stream_seq FROM messages WHERE message_id = ?1"
    };
    let mut select = conn.prepare_cached(sql)?;
    let mut text = IdText::new();
    ids.iter()
        .map(|id| {
            let row = select
                .query_row([text.of(id)], |r| {
                    Ok(Recorded {
                        fingerprint: r.get(0)?,
                        stream_seq: r.get::<_, Option<i64>>(1)?.and_then(|s| u64::try_from(s).ok()),
                    })
                })
                .optional()?;
            Ok(row)
        })
        .collect()
}

/// Deletes the gateway's rows of messages `ids` (rows still `accepted` with no attempt, the only
/// kind the gateway writes): for messages JetStream did not acknowledge, and for messages a worker
/// has recorded since. Answers how many rows went.
pub fn forget_accepted(conn: &Connection, ids: &[Uuid]) -> Result<usize, IngestError> {
    let mut delete = conn.prepare_cached(
        "DELETE FROM messages WHERE message_id = ?1 AND status = 'accepted' AND attempts = 0",
    )?;
    let mut text = IdText::new();
    let mut deleted = 0;
    for id in ids {
        deleted += delete.execute([text.of(id)])?;
    }
    Ok(deleted)
}

/// Up to `limit` ids of `accepted` rows, in id order, after `after` (from the first when `None`).
pub fn accepted_ids(
    conn: &Connection,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<Uuid>, IngestError> {
    let mut select = conn.prepare_cached(
        "SELECT message_id FROM messages WHERE status = 'accepted' AND message_id > ?1 \
         ORDER BY message_id LIMIT ?2",
    )?;
    let after = after.map(|id| id.to_string()).unwrap_or_default();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let ids = select.query_map(params![after, limit], |r| r.get::<_, String>(0))?;
    ids.map(|id| {
        let id = id?;
        Uuid::parse_str(&id)
            .map_err(|e| IngestError::Database(format!("message_id {id:?} is not a UUID: {e}")))
    })
    .collect()
}

/// Those of `ids` whose row a flushed commit wrote: any status but `processing`, which the
/// worker commits without a flush (a power cut may undo it).
pub fn recorded(conn: &Connection, ids: &[Uuid]) -> Result<Vec<Uuid>, IngestError> {
    let mut exists = conn.prepare_cached(
        "SELECT 1 FROM messages WHERE message_id = ?1 AND status <> 'processing'",
    )?;
    let mut text = IdText::new();
    let mut found = Vec::new();
    for id in ids {
        if exists.exists([text.of(id)])? {
            found.push(*id);
        }
    }
    Ok(found)
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

/// Moves `message` to `status` with `error` (creating its row when missing), unless it is already
/// final. Without an `error`, the row keeps the last one (a redelivery marked `processing` still
/// shows why the attempt before failed). Returns whether the row changed.
pub fn set_status(
    conn: &Connection,
    message: &Delivered,
    status: MessageStatus,
    error: Option<&str>,
    now: i64,
) -> Result<bool, IngestError> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO messages (message_id, entity_type, source, status, attempts, error, \
         received_at, updated_at, stream_seq, fingerprint) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, \
         attempts = MAX(messages.attempts, excluded.attempts), \
         error = COALESCE(excluded.error, messages.error), \
         updated_at = excluded.updated_at, stream_seq = excluded.stream_seq, \
         fingerprint = COALESCE(messages.fingerprint, excluded.fingerprint) \
         WHERE messages.status NOT IN ('processed', 'dead_lettered')",
    )?;
    let changed = upsert.execute(params![
        message.message_id.to_string(),
        message.entity_type,
        message.source,
        status.as_str(),
        message.attempts,
        error,
        message.received_at,
        now,
        i64::try_from(message.stream_seq).unwrap_or(i64::MAX),
        message.fingerprint,
    ])?;
    Ok(changed == 1)
}

/// Marks `message` processed with its `body` (JSON text), unless it is already final. Returns
/// whether this call applied it: false means an earlier delivery already did. `has_row` says
/// which is likelier, that the row exists (the worker marked it `processing`, or an attempt
/// failed) or not: the likelier statement, an update by key or an insert, runs first, and the
/// other only when it changed nothing.
pub fn mark_processed(
    conn: &Connection,
    message: &Delivered,
    body: &str,
    now: i64,
    has_row: bool,
) -> Result<bool, IngestError> {
    let id = message.message_id.to_string();
    let seq = i64::try_from(message.stream_seq).unwrap_or(i64::MAX);
    let update = || -> Result<bool, IngestError> {
        let updated = conn
            .prepare_cached(
                "UPDATE messages SET status = 'processed', attempts = MAX(attempts, ?2), \
                 error = NULL, body = ?3, updated_at = ?4, processed_at = ?4, stream_seq = ?5, \
                 fingerprint = COALESCE(fingerprint, ?6) \
                 WHERE message_id = ?1 AND status NOT IN ('processed', 'dead_lettered')",
            )?
            .execute(params![id, message.attempts, body, now, seq, message.fingerprint])?;
        Ok(updated == 1)
    };
    let insert = || -> Result<bool, IngestError> {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO messages (message_id, entity_type, source, status, attempts, body, \
                 received_at, updated_at, processed_at, stream_seq, fingerprint) \
                 VALUES (?1, ?2, ?3, 'processed', ?4, ?5, ?6, ?7, ?7, ?8, ?9) \
                 ON CONFLICT (message_id) DO NOTHING",
            )?
            .execute(params![
                id,
                message.entity_type,
                message.source,
                message.attempts,
                body,
                message.received_at,
                now,
                seq,
                message.fingerprint
            ])?;
        Ok(inserted == 1)
    };
    if has_row {
        if update()? {
            return Ok(true);
        }
        insert()
    } else {
        if insert()? {
            return Ok(true);
        }
        update()
    }
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
pub fn find(conn: &Connection, id: &Uuid) -> Result<Option<StatusRow>, IngestError> {
    let row = conn
        .prepare_cached(
            "SELECT message_id, entity_type, source, status, attempts, error, received_at, \
             updated_at, processed_at FROM messages WHERE message_id = ?1",
        )?
        .query_row([id.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<i64>>(8)?,
            ))
        })
        .optional()?;
    let Some((message_id, entity_type, source, status, attempts, error, received, updated, done)) =
        row
    else {
        return Ok(None);
    };
    let status = MessageStatus::parse(&status)
        .ok_or_else(|| IngestError::Database(format!("unknown status {status:?} in messages")))?;
    Ok(Some(StatusRow {
        message_id,
        entity_type,
        source,
        status,
        attempts,
        error,
        received_at: received,
        updated_at: updated,
        processed_at: done,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_file_of_the_first_schema_is_read_without_fingerprints() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("0001_messages.sql")).unwrap();
        let id = Uuid::now_v7();
        conn.execute(
            "INSERT INTO messages (message_id, entity_type, status, received_at, updated_at, \
             stream_seq) VALUES (?1, 'e', 'processed', 1, 1, 7)",
            [id.to_string()],
        )
        .unwrap();
        let found = find_recorded(&conn, &[id, Uuid::now_v7()]).unwrap();
        assert_eq!(found, [Some(Recorded { fingerprint: None, stream_seq: Some(7) }), None]);
    }
}
