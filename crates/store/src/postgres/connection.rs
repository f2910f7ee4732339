//! Opening PostgreSQL connections. Every connection of a store gets the same session: read
//! committed, `synchronous_commit = on` (a commit has reached the server's WAL on disk before
//! natsapi acknowledges it, whatever the server's default), and the configured statement timeout.
//!
//! The driver's blocking client runs a small runtime of its own, which must not be entered, nor
//! dropped, on a Tokio worker thread: connections are made on a thread of their own, and a
//! connection dropped inside a runtime is handed to a plain thread to close.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use postgres::{Client, NoTls, Statement};

use super::PostgresConfig;
use super::deadlocks::Watch;
use crate::error::{StoreError, cause};

/// Longest a statement waits for a row lock (ms) before it fails as a conflict and its operation
/// runs again: a wait that long means a stuck or deadlocked transaction, not a busy row.
const LOCK_TIMEOUT_MS: u64 = 5_000;

/// Most prepared statements a connection keeps; searches build their SQL from the request, so the
/// set is open-ended.
const MAX_STATEMENTS: usize = 256;

/// What every connection of a store is opened with.
#[derive(Clone)]
pub(super) struct Settings {
    config: postgres::Config,
    /// The database as logs and errors name it (no password).
    what: String,
    /// The session's settings, sent once after connecting.
    session: String,
}

impl Settings {
    /// Parses the URL and prepares the session settings.
    pub(super) fn parse(config: &PostgresConfig) -> Result<Self, StoreError> {
        let mut parsed = postgres::Config::from_str(&config.url).map_err(|e| {
            StoreError::Config(format!(
                "the PostgreSQL URL {} is invalid: {e}",
                redacted(&config.url)
            ))
        })?;
        if parsed.get_application_name().is_none() {
            parsed.application_name("natsapi");
        }
        let timeout = config.statement_timeout.map_or(0, |t| t.as_millis().max(1));
        let session = format!(
            "SET default_transaction_isolation = 'read committed'; \
             SET synchronous_commit = on; SET statement_timeout = {timeout}; \
             SET lock_timeout = {LOCK_TIMEOUT_MS}"
        );
        Ok(Settings { config: parsed, what: describe(&config.url), session })
    }

    /// The same settings for read connections: their sessions are read-only, so that a read
    /// that writes after all (plain SQL calling a function with side effects) is refused by the
    /// server, not committed outside the write path.
    pub(super) fn read_only(&self) -> Settings {
        let mut settings = self.clone();
        settings.session.push_str("; SET default_transaction_read_only = on");
        settings
    }

    /// The database as errors name it.
    pub(super) fn what(&self) -> &str {
        &self.what
    }

    /// Connects on this thread, which must not be a Tokio worker.
    pub(super) fn connect(&self) -> Result<PgConn, StoreError> {
        let open = |e| StoreError::Open { what: self.what.clone(), source: cause(e) };
        let mut client = self.config.connect(NoTls).map_err(open)?;
        client.batch_execute(&self.session).map_err(open)?;
        Ok(PgConn { client: Some(client), statements: HashMap::new(), watch: None })
    }

    /// The connection in `slot`, opened again (and logged) when it was lost.
    pub(super) fn reopen<'s>(
        &self,
        slot: &'s mut Option<PgConn>,
    ) -> Result<&'s mut PgConn, StoreError> {
        if slot.as_ref().is_none_or(PgConn::is_closed) {
            *slot = None;
            let conn = self.connect()?;
            tracing::info!(database = self.what(), "reconnected to the store database");
            *slot = Some(conn);
        }
        slot.as_mut().ok_or_else(|| StoreError::Closed)
    }

    /// Connects on a thread of its own (safe from any thread, async or not).
    pub(super) fn connect_on_thread(&self, name: &str) -> Result<PgConn, StoreError> {
        let settings = self.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || settings.connect())
            .map_err(|e| StoreError::Open { what: "a connection thread".into(), source: cause(e) })?
            .join()
            .unwrap_or_else(|_| {
                Err(StoreError::Panicked("connecting to PostgreSQL panicked".into()))
            })
    }
}

/// A connection and its prepared statements.
pub(super) struct PgConn {
    /// Always `Some` until dropped.
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    /// The deadlock watchdog's view of a writer's connection (see [`super::deadlocks`]).
    watch: Option<Arc<Watch>>,
}

impl PgConn {
    /// The client.
    pub(super) fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("a connection has its client until dropped")
    }

    /// Whether the connection to the server is gone.
    pub(super) fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    /// Lets the deadlock watchdog see this connection's statements through `watch`, unless it
    /// does already.
    pub(super) fn watch_with(&mut self, watch: &Arc<Watch>) -> Result<(), postgres::Error> {
        if self.watch.is_some() {
            return Ok(());
        }
        let pid: i32 = self.client().query_one("SELECT pg_backend_pid()", &[])?.try_get(0)?;
        watch.attach(pid, self.client().cancel_token());
        self.watch = Some(watch.clone());
        Ok(())
    }

    /// Runs one statement of an operation with the client, in the watchdog's view.
    pub(super) fn run_statement<T>(
        &mut self,
        statement: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let client = self.client.as_mut().expect("a connection has its client until dropped");
        let Some(watch) = self.watch.as_deref() else { return statement(client) };
        watch.started();
        let result = statement(client);
        watch.ended();
        result
    }

    /// Whether a statement failed because the deadlock watchdog cancelled it.
    pub(super) fn cancelled_for_deadlock(&self) -> bool {
        self.watch.as_deref().is_some_and(Watch::cancelled_lately)
    }

    /// `sql` prepared on this connection, from the cache when it was prepared before.
    pub(super) fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client().prepare(sql)?;
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Closing the client drops its runtime, which Tokio forbids on a runtime's thread.
            let _ = std::thread::Builder::new()
                .name("natsapi-pg-close".into())
                .spawn(move || drop(client));
        } else {
            drop(client);
        }
    }
}

/// `url` with its password replaced by `***`, for logs and errors.
pub fn redacted(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let tail = mask_query_password(tail);
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}{tail}");
        }
        return format!("{scheme}://{authority}{tail}");
    }
    // key=value form: hide the value of `password`.
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A URL's path and query with the value of a `password` parameter replaced by `***`.
fn mask_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_owned() };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// The database as errors name it: the URL without its password.
fn describe(url: &str) -> String {
    format!("postgres {}", redacted(url))
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redacted("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("postgresql://u:p@ss@h/db?x=1"), "postgresql://u:***@h/db?x=1");
        assert_eq!(redacted("host=h password=secret dbname=d"), "host=h password=*** dbname=d");
        assert_eq!(
            redacted("postgres://u@h/db?password=secret&x=1"),
            "postgres://u@h/db?password=***&x=1"
        );
    }
}
