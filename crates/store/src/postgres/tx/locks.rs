//! Locks in PostgreSQL: the queries and the lock part of [`natsapi_core::Tx`].

use natsapi_core::{Lock, LockTx, TxError};
use postgres::Row;

use super::{PgTx, get, limit};

/// The column list every lock query selects, in [`lock_from_row`] order.
macro_rules! lock_columns {
    () => {
        "resource_id, execution_id, process_id, ttl, expires_at"
    };
}

const SELECT_LOCK: &str = concat!("SELECT ", lock_columns!(), " FROM locks WHERE resource_id = $1");

const LOCK_LOCK: &str =
    concat!("SELECT ", lock_columns!(), " FROM locks WHERE resource_id = $1 FOR UPDATE");

/// Takes a lock nobody held when the operation looked: a row inserted meanwhile by another
/// writer fails the unique key, and the operation runs again and sees it.
const INSERT_LOCK: &str = "INSERT INTO locks (resource_id, execution_id, process_id, ttl, \
     expires_at) VALUES ($1, $2, $3, $4, $5)";

/// Replaces or renews a lock the operation read (and holds the row of).
const UPSERT_LOCK: &str = "INSERT INTO locks (resource_id, execution_id, process_id, ttl, \
     expires_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (resource_id) DO UPDATE SET execution_id = excluded.execution_id, \
     process_id = excluded.process_id, ttl = excluded.ttl, expires_at = excluded.expires_at";

macro_rules! expired {
    () => {
        concat!(
            "SELECT ",
            lock_columns!(),
            " FROM locks WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2"
        )
    };
}

const SELECT_EXPIRED: &str = expired!();
const CLAIM_EXPIRED: &str = concat!(expired!(), " FOR UPDATE SKIP LOCKED");

/// `now + ttl`, saturating at the largest BIGINT as the memory backend does.
const HEARTBEAT: &str = "UPDATE locks SET expires_at = CASE WHEN ttl > 9223372036854775807 - $2 \
     THEN 9223372036854775807 ELSE $2 + ttl END WHERE process_id = $1 AND expires_at > $2";

fn lock_from_row(row: &Row) -> Result<Lock, TxError> {
    Ok(Lock {
        resource_id: get(row, 0)?,
        execution_id: get(row, 1)?,
        process_id: get(row, 2)?,
        ttl: get(row, 3)?,
        expires_at: get(row, 4)?,
    })
}

impl LockTx for PgTx<'_> {
    fn lock(&mut self, resource_id: &str) -> Result<Option<Lock>, TxError> {
        let sql = if self.writable { LOCK_LOCK } else { SELECT_LOCK };
        let row = self.query_opt(sql, &[&resource_id])?;
        let lock = self.decode_opt(row, lock_from_row)?;
        if lock.is_none() && self.writable {
            self.absent_locks.push(resource_id.to_owned());
        }
        Ok(lock)
    }

    fn put_lock(&mut self, lock: &Lock) -> Result<(), TxError> {
        let seen_absent = self.absent_locks.contains(&lock.resource_id);
        let sql = if seen_absent { INSERT_LOCK } else { UPSERT_LOCK };
        self.execute(
            sql,
            &[&lock.resource_id, &lock.execution_id, &lock.process_id, &lock.ttl, &lock.expires_at],
        )
        .map(drop)
    }

    fn delete_lock(&mut self, resource_id: &str, execution_id: &str) -> Result<bool, TxError> {
        let deleted = self.execute(
            "DELETE FROM locks WHERE resource_id = $1 AND execution_id = $2",
            &[&resource_id, &execution_id],
        )?;
        Ok(deleted == 1)
    }

    fn heartbeat_locks(&mut self, process_id: &str, now: i64) -> Result<usize, TxError> {
        let changed = self.execute(HEARTBEAT, &[&process_id, &now])?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn expired_locks(&mut self, now: i64, limit_to: usize) -> Result<Vec<Lock>, TxError> {
        let sql = if self.writable { CLAIM_EXPIRED } else { SELECT_EXPIRED };
        let rows = self.query(sql, &[&now, &limit(limit_to)])?;
        self.decode(rows, lock_from_row)
    }

    fn next_lock_expiry(&mut self) -> Result<Option<i64>, TxError> {
        let row = self.query_opt("SELECT min(expires_at) FROM locks", &[])?;
        match row {
            Some(row) => get(&row, 0),
            None => Ok(None),
        }
    }
}
