//! The example methods of the NATS guide: comments on a track, added, edited and deleted by
//! their author through signed calls, and listed by track (the query `track_comment.list`).
//!
//! A comment is its author's: rows are keyed by `(wallet, comment_id)`, so another wallet's call
//! naming the same `comment_id` is about a comment of its own, and cannot take, edit or delete
//! this one.
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
//! - a second `add` of a comment id the wallet has added already can never succeed: it is
//!   dead-lettered.

use natsapi_core::sql::{SqlTx, SqlValue};
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
            "INSERT INTO track_comments (wallet, comment_id, track_id, position_ms, comment, \
             version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (wallet, comment_id) DO NOTHING",
            &[
                SqlValue::from(wallet.as_str()),
                SqlValue::from(p.comment_id.as_str()),
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
        // A placeholder of the wallet's own: its edit (or tombstone) stays, the add brings the
        // rest.
        let completed = tx.execute(
            "UPDATE track_comments SET track_id = $3, position_ms = $4, \
             comment = COALESCE(comment, $5), created_at = $6, updated_at = $6 \
             WHERE wallet = $1 AND comment_id = $2 AND track_id IS NULL",
            &[
                SqlValue::from(wallet.as_str()),
                SqlValue::from(p.comment_id.as_str()),
                SqlValue::Int(p.track_id),
                SqlValue::Int(p.position_ms),
                SqlValue::from(p.comment.as_str()),
                SqlValue::Int(call.now),
            ],
        )?;
        if completed == 1 {
            return Ok(());
        }
        Err(ApplyError::Permanent(format!(
            "comment {:?} of {wallet} was added before; comment ids are unique per wallet",
            p.comment_id
        )))
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
        // An older edit than the one shown, or an edit of a deleted comment, changes nothing.
        tx.execute(
            "UPDATE track_comments SET comment = $3, version = $4, updated_at = $5 \
             WHERE wallet = $1 AND comment_id = $2 AND version <= $4 AND deleted_at IS NULL",
            &[
                SqlValue::Text(call.wallet.to_string()),
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
        tx.execute(
            "UPDATE track_comments SET deleted_at = $3, updated_at = $3 \
             WHERE wallet = $1 AND comment_id = $2 AND deleted_at IS NULL",
            &[
                SqlValue::Text(call.wallet.to_string()),
                SqlValue::from(p.comment_id.as_str()),
                SqlValue::Int(call.now),
            ],
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
        "INSERT INTO track_comments (wallet, comment_id, comment, version, updated_at, \
         deleted_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (wallet, comment_id) DO NOTHING",
        &[
            SqlValue::Text(call.wallet.to_string()),
            SqlValue::from(comment_id),
            comment.into(),
            SqlValue::Int(edit_key(call)),
            SqlValue::Int(call.now),
            deleted_at.map_or(SqlValue::Null, SqlValue::Int),
        ],
    )?;
    Ok(made == 1)
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
         ORDER BY position_ms, wallet, comment_id LIMIT $2",
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
