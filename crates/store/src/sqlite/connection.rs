//! Opening SQLite connections: the writer's (which migrates the schema) and the readers'.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};

use super::{SqliteConfig, Synchronous, schema};
use crate::error::{StoreError, cause};
use crate::group::rolled_back;

/// The error of a failure to open or prepare the database at `config.path`.
fn open_err(config: &SqliteConfig) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Open { what: config.path.display().to_string(), source: cause(e) }
}

/// Settings every connection shares: timeouts, cache, statement cache and our SQL functions.
fn prepare(conn: &mut Connection, config: &SqliteConfig) -> Result<(), StoreError> {
    let open_err = open_err(config);
    conn.busy_handler(Some(wait_for_lock)).map_err(&open_err)?;
    // 16 MiB of page cache (negative = KiB): reads of recent promises stay in memory.
    conn.pragma_update(None, "cache_size", -16_384).map_err(&open_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.create_scalar_function(
        "natsapi_glob",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let pattern = ctx.get_raw(0).as_str().map_err(rusqlite::Error::from)?;
            let id = ctx.get_raw(1).as_str().map_err(rusqlite::Error::from)?;
            Ok(natsapi_core::glob::matches(pattern, id))
        },
    )
    .map_err(&open_err)
}

/// How a connection waits while another process holds the lock it needs (a gateway and a worker,
/// or two servers, on one file): it tries again after 50 µs, then every 200 µs, for about 5 s
/// in all, then fails with `SQLITE_BUSY`. SQLite's own `busy_timeout` sleeps 1, 2, 5, … up to
/// 100 ms between tries, which turns every contended commit into milliseconds of idle waiting.
fn wait_for_lock(attempt: i32) -> bool {
    const MAX_ATTEMPTS: i32 = 25_000;
    let pause = if attempt < 20 { 50 } else { 200 };
    std::thread::sleep(std::time::Duration::from_micros(pause));
    attempt < MAX_ATTEMPTS
}

/// The `synchronous` pragma's value.
fn synchronous(level: Synchronous) -> &'static str {
    match level {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    }
}

/// Opens (creating when missing) the database for writing: WAL mode, the configured durability,
/// and the schema migrated to the current version.
pub fn open_writer(config: &SqliteConfig) -> Result<Connection, StoreError> {
    if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            what: config.path.display().to_string(),
            source: cause(e),
        })?;
    }
    let open_err = open_err(config);
    let mut conn = Connection::open(&config.path).map_err(&open_err)?;
    // Wait for other processes (switching to WAL, migrating) instead of failing at once.
    prepare(&mut conn, config)?;
    let mode: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(&open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            what: config.path.display().to_string(),
            source: rolled_back("the file cannot use WAL mode"),
        });
    }
    conn.pragma_update(None, "synchronous", synchronous(config.synchronous)).map_err(&open_err)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a read-write connection, with the configured durability, to a database the writer has
/// already opened and migrated: the checkpoint thread's.
pub fn open_checkpointer(config: &SqliteConfig) -> Result<Connection, StoreError> {
    let open_err = open_err(config);
    let mut conn = Connection::open(&config.path).map_err(&open_err)?;
    prepare(&mut conn, config)?;
    conn.pragma_update(None, "synchronous", synchronous(config.synchronous)).map_err(&open_err)?;
    Ok(conn)
}

/// Opens a read-only connection to a database the writer has already opened and migrated.
pub fn open_reader(config: &SqliteConfig) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let mut conn = Connection::open_with_flags(&config.path, flags).map_err(open_err(config))?;
    prepare(&mut conn, config)?;
    Ok(conn)
}
