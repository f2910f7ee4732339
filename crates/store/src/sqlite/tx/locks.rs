//! Locks in SQLite: the queries and the lock part of [`natsapi_core::Tx`].

use natsapi_core::{Lock, LockTx, TxError};
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteTx, tx_err};

/// The column list every lock query selects, in [`lock_from_row`] order.
macro_rules! lock_columns {
    () => {
        "resource_id, execution_id, process_id, ttl, expires_at"
    };
}

fn lock_from_row(row: &Row<'_>) -> rusqlite::Result<Lock> {
    Ok(Lock {
        resource_id: row.get(0)?,
        execution_id: row.get(1)?,
        process_id: row.get(2)?,
        ttl: row.get(3)?,
        expires_at: row.get(4)?,
    })
}

impl LockTx for SqliteTx<'_> {
    fn lock(&mut self, resource_id: &str) -> Result<Option<Lock>, TxError> {
        let mut stmt = self
            .conn
            .prepare_cached(concat!(
                "SELECT ",
                lock_columns!(),
                " FROM locks WHERE resource_id = ?1"
            ))
            .map_err(tx_err)?;
        stmt.query_row([resource_id], lock_from_row).optional().map_err(tx_err)
    }

    fn put_lock(&mut self, lock: &Lock) -> Result<(), TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO locks (resource_id, execution_id, process_id, ttl, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (resource_id) DO UPDATE SET execution_id = excluded.execution_id, \
                 process_id = excluded.process_id, ttl = excluded.ttl, \
                 expires_at = excluded.expires_at",
            )
            .map_err(tx_err)?;
        stmt.execute(params![
            lock.resource_id,
            lock.execution_id,
            lock.process_id,
            lock.ttl,
            lock.expires_at
        ])
        .map_err(tx_err)?;
        Ok(())
    }

    fn delete_lock(&mut self, resource_id: &str, execution_id: &str) -> Result<bool, TxError> {
        self.before_write()?;
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM locks WHERE resource_id = ?1 AND execution_id = ?2")
            .map_err(tx_err)?;
        Ok(stmt.execute([resource_id, execution_id]).map_err(tx_err)? == 1)
    }

    fn heartbeat_locks(&mut self, process_id: &str, now: i64) -> Result<usize, TxError> {
        self.before_write()?;
        // `now + ttl`, saturating at the largest i64 as the memory backend does.
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE locks SET expires_at = CASE WHEN ttl > 9223372036854775807 - ?2 \
                 THEN 9223372036854775807 ELSE ?2 + ttl END \
                 WHERE process_id = ?1 AND expires_at > ?2",
            )
            .map_err(tx_err)?;
        stmt.execute(params![process_id, now]).map_err(tx_err)
    }

    fn expired_locks(&mut self, now: i64, limit: usize) -> Result<Vec<Lock>, TxError> {
        let mut stmt = self
            .conn
            .prepare_cached(concat!(
                "SELECT ",
                lock_columns!(),
                " FROM locks WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2"
            ))
            .map_err(tx_err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![now, limit], lock_from_row).map_err(tx_err)?;
        rows.collect::<Result<_, _>>().map_err(tx_err)
    }

    fn next_lock_expiry(&mut self) -> Result<Option<i64>, TxError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT min(expires_at) FROM locks").map_err(tx_err)?;
        stmt.query_row([], |r| r.get(0)).map_err(tx_err)
    }
}
