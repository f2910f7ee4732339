//! The read methods of `POST /query`: signed like calls (so the node knows who asks), run on the
//! store's read path, answered signed by the node.
//!
//! - `track_comment.list {track_id, limit?}`: the comments of a track, by position.
//! - `rpclog.list {method?, after?, limit?}`: the signer's own `rpclog` entries, in stream order,
//!   after the stream sequence `after` (the last one of the page before). Entries appear when
//!   applied: a call retried after later ones were applied lands behind a cursor that has passed
//!   it, so a reader that must see everything pages again from the oldest call not yet applied.

use natsapi_core::{Operation, Reply, Tx, TxError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::methods::{CheckError, read_params};
use super::{rpclog, track_comments};
use crate::db::done;

/// Most rows one query answers.
pub const MAX_LIMIT: i64 = 1000;
/// Rows a query answers when it gives no `limit`.
const DEFAULT_LIMIT: i64 = 100;

/// The read methods, by name.
pub const NAMES: [&str; 2] = ["track_comment.list", "rpclog.list"];

/// A read method with its params read.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `track_comment.list`.
    TrackComments {
        /// The track.
        track_id: i64,
        /// Most comments.
        limit: i64,
    },
    /// `rpclog.list`.
    OwnCalls {
        /// Only calls of this method.
        method: Option<String>,
        /// After this stream sequence.
        after: i64,
        /// Most entries.
        limit: i64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListComments {
    track_id: i64,
    limit: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListCalls {
    method: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

fn limit(method: &str, limit: Option<i64>) -> Result<i64, CheckError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(CheckError::BadParams {
            method: method.to_owned(),
            problem: format!("params.limit: {n} is not between 1 and {MAX_LIMIT}"),
        }),
    }
}

impl Query {
    /// Reads a query of `method` with `params`; the error names the problem.
    pub fn parse(method: &str, params: &Value) -> Result<Self, CheckError> {
        let bad = |problem| CheckError::BadParams { method: method.to_owned(), problem };
        match method {
            "track_comment.list" => {
                let p: ListComments = read_params(params).map_err(bad)?;
                Ok(Query::TrackComments { track_id: p.track_id, limit: limit(method, p.limit)? })
            }
            "rpclog.list" => {
                let p: ListCalls = if params.is_null() {
                    ListCalls::default()
                } else {
                    read_params(params).map_err(bad)?
                };
                Ok(Query::OwnCalls {
                    method: p.method,
                    after: p.after.unwrap_or(0),
                    limit: limit(method, p.limit)?,
                })
            }
            other => {
                Err(CheckError::UnknownMethod { method: other.to_owned(), known: NAMES.join(", ") })
            }
        }
    }
}

/// Runs a query for the signer `wallet`, on the read path.
#[derive(Debug, Clone)]
pub(crate) struct RunQuery {
    /// The signer.
    pub wallet: String,
    /// The query.
    pub query: Query,
}

impl Operation for RunQuery {
    type Output = Value;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Value>, TxError> {
        let result = match self.query {
            Query::TrackComments { track_id, limit } => {
                json!({ "comments": track_comments::list(tx, track_id, limit)? })
            }
            Query::OwnCalls { method, after, limit } => {
                let entries = rpclog::list(tx, &self.wallet, method.as_deref(), after, limit)?;
                json!({ "entries": entries })
            }
        };
        done(result)
    }

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }
}
