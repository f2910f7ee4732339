//! The example methods of the NATS guide: comments on a track, added, edited and deleted by
//! their author through signed calls, and listed by track (the query `track_comment.list`).
//!
//! Calls are applied in the order JetStream delivers them, which is not always the order their
//! author meant: an `add` that failed once comes back after the `update` sent behind it. So no
//! call is lost to the order it arrives in:
//! - an `update` or `delete` of a comment that has no `add` yet makes a placeholder row (no
//!   track) holding the edit or the tombstone; the `add`, when it comes, fills in the track and
//!   position and keeps the edited text;
//! - edits are ordered by their key, the call's signed `ts` or else the time the gateway received
//!   it: an older edit applied after a newer one changes nothing;
//! - a delete is final: edits after it change nothing, and the row stays as a tombstone;
//! - only the author (the wallet of the `add`) edits or deletes a comment; an edit of another
//!   wallet's comment is dead-lettered. A placeholder belongs to whoever made it until the `add`
//!   comes: an `add` by another wallet replaces it, and an edit by another wallet waits (it is
//!   retried) for the `add` that shows whose comment it is.

use natsapi_core::sql::{Dialect, SqlTx, SqlValue};
use serde::Deserialize;
use utoipa::ToSchema;

use super::methods::{CallContext, RpcMethod};
use crate::handler::ApplyError;

/// Longest `comment_id`.
const MAX_ID: usize = 128;
/// Longest comment, in characters.
const MAX_COMMENT: usize = 10_000;

/// `track_comment.add`: a new comment on a track.
#[derive(Debug, Clone, Copy)]
pub struct Add;

/// The params of `track_comment.add`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    /// The comment's id, chosen by the client (a cuid), 1 to 128 characters.
    pub comment_id: String,
    /// The track.
    pub track_id: i64,
    /// Where in the track the comment points, in milliseconds from its start.
    pub position_ms: i64,
    /// The text, 1 to 10,000 characters.
    pub comment: String,
}

/// `track_comment.update`: new text for one's own comment.
#[derive(Debug, Clone, Copy)]
pub struct Update;

/// The params of `track_comment.update`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParams {
    /// The comment.
    pub comment_id: String,
    /// The new text, 1 to 10,000 characters.
    pub comment: String,
}

/// `track_comment.delete`: removes one's own comment.
#[derive(Debug, Clone, Copy)]
pub struct Delete;

/// The params of `track_comment.delete`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// The comment.
    pub comment_id: String,
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.chars().count() > MAX_ID {
        return Err(format!("params.comment_id: must be 1 to {MAX_ID} characters"));
    }
    Ok(())
}

fn check_comment(comment: &str) -> Result<(), String> {
    if comment.is_empty() || comment.chars().count() > MAX_COMMENT {
        return Err(format!("params.comment: must be 1 to {MAX_COMMENT} characters"));
    }
    Ok(())
}

impl RpcMethod for Add {
    type Params = AddParams;

    fn name(&self) -> &'static str {
        "track_comment.add"
    }

    fn check(&self, p: &AddParams) -> Result<(), String> {
        check_id(&p.comment_id)?;
        check_comment(&p.comment)?;
        if p.position_ms < 0 {
            return Err("params.position_ms: must be 0 or more".into());
        }
        Ok(())
    }

    fn apply(
        &self,
        tx: &mut dyn SqlTx,
        call: &CallContext<'_>,
        p: AddParams,
    ) -> Result<(), ApplyError> {
        let wallet = call.wallet.to_string();
        let inserted = tx.execute(
            "INSERT INTO track_comments (comment_id, wallet, track_id, position_ms, comment, \
             version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (comment_id) DO NOTHING",
            &[
                SqlValue::from(p.comment_id.as_str()),
                SqlValue::from(wallet.as_str()),
                SqlValue::Int(p.track_id),
                SqlValue::Int(p.position_ms),
                SqlValue::from(p.comment.as_str()),
                SqlValue::Int(edit_key(call)),
                SqlValue::Int(call.now),
            ],
        )?;
        if inserted == 1 {
            return Ok(());
        }
        let row = Existing::lock(tx, &p.comment_id)?;
        if row.track_id.is_some() {
            return Err(ApplyError::Permanent(format!(
                "comment {:?} was added before (by {}); comment ids are unique",
                p.comment_id, row.wallet
            )));
        }
        if row.wallet != wallet {
            // A placeholder left by another wallet's edit: the add's author owns the comment.
            tx.execute(
                "UPDATE track_comments SET wallet = $2, track_id = $3, position_ms = $4, \
                 comment = $5, version = $6, created_at = $7, updated_at = $7, deleted_at = NULL \
                 WHERE comment_id = $1",
                &[
                    SqlValue::from(p.comment_id.as_str()),
                    SqlValue::from(wallet.as_str()),
                    SqlValue::Int(p.track_id),
                    SqlValue::Int(p.position_ms),
                    SqlValue::from(p.comment.as_str()),
                    SqlValue::Int(edit_key(call)),
                    SqlValue::Int(call.now),
                ],
            )?;
            return Ok(());
        }
        // The author's own placeholder: its edit (or tombstone) stays; the add brings the rest.
        tx.execute(
            "UPDATE track_comments SET track_id = $2, position_ms = $3, \
             comment = COALESCE(comment, $4), created_at = $5, updated_at = $5 \
             WHERE comment_id = $1",
            &[
                SqlValue::from(p.comment_id.as_str()),
                SqlValue::Int(p.track_id),
                SqlValue::Int(p.position_ms),
                SqlValue::from(p.comment.as_str()),
                SqlValue::Int(call.now),
            ],
        )?;
        Ok(())
    }
}

impl RpcMethod for Update {
    type Params = UpdateParams;

    fn name(&self) -> &'static str {
        "track_comment.update"
    }

    fn check(&self, p: &UpdateParams) -> Result<(), String> {
        check_id(&p.comment_id)?;
        check_comment(&p.comment)
    }

    fn apply(
        &self,
        tx: &mut dyn SqlTx,
        call: &CallContext<'_>,
        p: UpdateParams,
    ) -> Result<(), ApplyError> {
        if placeholder(tx, call, &p.comment_id, Some(&p.comment), None)? {
            return Ok(());
        }
        let row = Existing::lock(tx, &p.comment_id)?;
        row.check_author(call, &p.comment_id)?;
        // An older edit than the one shown, or an edit of a deleted comment, changes nothing.
        tx.execute(
            "UPDATE track_comments SET comment = $2, version = $3, updated_at = $4 \
             WHERE comment_id = $1 AND version <= $3 AND deleted_at IS NULL",
            &[
                SqlValue::from(p.comment_id.as_str()),
                SqlValue::from(p.comment.as_str()),
                SqlValue::Int(edit_key(call)),
                SqlValue::Int(call.now),
            ],
        )?;
        Ok(())
    }
}

impl RpcMethod for Delete {
    type Params = DeleteParams;

    fn name(&self) -> &'static str {
        "track_comment.delete"
    }

    fn check(&self, p: &DeleteParams) -> Result<(), String> {
        check_id(&p.comment_id)
    }

    fn apply(
        &self,
        tx: &mut dyn SqlTx,
        call: &CallContext<'_>,
        p: DeleteParams,
    ) -> Result<(), ApplyError> {
        if placeholder(tx, call, &p.comment_id, None, Some(call.now))? {
            return Ok(());
        }
        let row = Existing::lock(tx, &p.comment_id)?;
        row.check_author(call, &p.comment_id)?;
        tx.execute(
            "UPDATE track_comments SET deleted_at = $2, updated_at = $2 \
             WHERE comment_id = $1 AND deleted_at IS NULL",
            &[SqlValue::from(p.comment_id.as_str()), SqlValue::Int(call.now)],
        )?;
        Ok(())
    }
}

/// The order of edits: the call's signed time, else the time the gateway received it.
fn edit_key(call: &CallContext<'_>) -> i64 {
    call.ts.unwrap_or(call.received_at)
}

/// Makes the placeholder of a comment that has no row yet, holding an edit's text or a delete's
/// tombstone; answers whether it did (false: the comment has a row).
fn placeholder(
    tx: &mut dyn SqlTx,
    call: &CallContext<'_>,
    comment_id: &str,
    comment: Option<&str>,
    deleted_at: Option<i64>,
) -> Result<bool, ApplyError> {
    let made = tx.execute(
        "INSERT INTO track_comments (comment_id, wallet, comment, version, updated_at, \
         deleted_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (comment_id) DO NOTHING",
        &[
            SqlValue::from(comment_id),
            SqlValue::Text(call.wallet.to_string()),
            comment.into(),
            SqlValue::Int(edit_key(call)),
            SqlValue::Int(call.now),
            deleted_at.map_or(SqlValue::Null, SqlValue::Int),
        ],
    )?;
    Ok(made == 1)
}

/// The row of a comment that exists, locked for this transaction.
struct Existing {
    wallet: String,
    track_id: Option<i64>,
}

impl Existing {
    fn lock(tx: &mut dyn SqlTx, comment_id: &str) -> Result<Self, ApplyError> {
        let lock = match tx.dialect() {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let rows = tx.query(
            &format!("SELECT wallet, track_id FROM track_comments WHERE comment_id = $1{lock}"),
            &[SqlValue::from(comment_id)],
        )?;
        let Some(row) = rows.into_iter().next() else {
            return Err(ApplyError::Transient(format!("comment {comment_id:?} vanished")));
        };
        let mut values = row.into_iter();
        let wallet = values.next().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let track_id = values.next().and_then(|v| v.as_i64());
        Ok(Existing { wallet, track_id })
    }

    /// Only the author edits a comment. Before the comment's add, a placeholder of another
    /// wallet does not tell who the author is: the edit is retried until the add shows it.
    fn check_author(&self, call: &CallContext<'_>, comment_id: &str) -> Result<(), ApplyError> {
        let wallet = call.wallet.to_string();
        if self.wallet == wallet {
            return Ok(());
        }
        let problem = format!(
            "comment {comment_id:?} belongs to {}; only its author may edit or delete it",
            self.wallet
        );
        Err(if self.track_id.is_some() {
            ApplyError::Permanent(problem)
        } else {
            ApplyError::Transient(format!("{problem} (waiting for its add)"))
        })
    }
}

/// One comment as `track_comment.list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct Comment {
    /// The comment's id.
    pub comment_id: String,
    /// Its author.
    pub wallet: String,
    /// The track.
    pub track_id: i64,
    /// Where in the track, in milliseconds.
    pub position_ms: i64,
    /// The text.
    pub comment: String,
    /// When it was added (epoch ms).
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// When it last changed (epoch ms).
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// The comments of `track_id` that are added and not deleted, by position, at most `limit`.
pub fn list(
    tx: &mut dyn SqlTx,
    track_id: i64,
    limit: i64,
) -> Result<Vec<Comment>, natsapi_core::TxError> {
    let rows = tx.query(
        "SELECT comment_id, wallet, position_ms, comment, created_at, updated_at \
         FROM track_comments WHERE track_id = $1 AND deleted_at IS NULL \
         ORDER BY position_ms, comment_id LIMIT $2",
        &[SqlValue::Int(track_id), SqlValue::Int(limit)],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let text = |v: &SqlValue| v.as_str().unwrap_or_default().to_owned();
            let int = |v: &SqlValue| v.as_i64().unwrap_or_default();
            let column = |i: usize| row.get(i).unwrap_or(&SqlValue::Null);
            Comment {
                comment_id: text(column(0)),
                wallet: text(column(1)),
                track_id,
                position_ms: int(column(2)),
                comment: text(column(3)),
                created_at: int(column(4)),
                updated_at: int(column(5)),
            }
        })
        .collect())
}
