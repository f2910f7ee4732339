//! Admin statements (`CREATE DATABASE`, `DROP DATABASE`) on a thread of their own.
//!
//! The synchronous `postgres` client drives a private tokio runtime, and tokio refuses to start or
//! block on a runtime from a thread that is already inside one: used directly from an async test
//! (or from a `Drop` running there) it would panic. A plain thread, joined at once, has no runtime
//! context, so [`TestDatabase`](super::TestDatabase) works the same from `#[test]` and
//! `#[tokio::test]`. The caller blocks for the few milliseconds the statement takes.

use std::any::Any;
use std::time::Duration;

use super::PostgresUrl;
use crate::TestkitError;

/// How long a connection attempt may take when the URL sets no `connect_timeout`: a server that
/// does not answer should fail the test quickly, not hang it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `work` on a new thread outside any tokio runtime and waits for its result.
pub(crate) fn on_admin_thread<T: Send>(
    context: &str,
    work: impl FnOnce() -> Result<T, TestkitError> + Send,
) -> Result<T, TestkitError> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("natsapi-testkit-postgres".to_owned())
            .spawn_scoped(scope, work)
            .map_err(|e| TestkitError::io(format!("{context}: starting a thread"), e))?;
        handle.join().map_err(|payload| TestkitError::PostgresThreadPanicked {
            context: context.to_owned(),
            message: panic_message(payload.as_ref()),
        })?
    })
}

/// Connects with the driver (no TLS), with [`CONNECT_TIMEOUT`] unless the URL sets one.
/// Must run outside a tokio runtime (see [`on_admin_thread`]).
pub(crate) fn connect(url: &PostgresUrl) -> Result<postgres::Client, postgres::Error> {
    let mut config = url.config().clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.connect(postgres::NoTls)
}

/// `CREATE DATABASE <name>` on the server `admin` points at.
pub(crate) fn create_database(
    client: &mut postgres::Client,
    admin: &PostgresUrl,
    name: &str,
) -> Result<(), TestkitError> {
    client.batch_execute(&format!("CREATE DATABASE {}", quote_ident(name))).map_err(|source| {
        TestkitError::Postgres {
            context: format!(
                "creating database {name} on {admin} (the role needs the CREATEDB attribute)"
            ),
            source,
        }
    })
}

/// Runs `sql` on a connection of its own to `url`.
pub(crate) fn execute(url: &PostgresUrl, sql: &str) -> Result<(), TestkitError> {
    let mut client = connect(url).map_err(|source| TestkitError::Postgres {
        context: format!("connecting to {url}"),
        source,
    })?;
    client
        .batch_execute(sql)
        .map_err(|source| TestkitError::Postgres { context: format!("{sql} on {url}"), source })
}

/// `DROP DATABASE IF EXISTS <name> WITH (FORCE)`: the server ends the sessions still connected
/// to it first (PostgreSQL 13 or newer), so a pool a test forgot to close does not keep it.
pub(crate) fn drop_database(admin: &PostgresUrl, name: &str) -> Result<(), TestkitError> {
    let mut client = connect(admin).map_err(|source| TestkitError::Postgres {
        context: format!("connecting to {admin} to drop database {name}"),
        source,
    })?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)))
        .map_err(|source| TestkitError::Postgres {
            context: format!("dropping database {name} on {admin}"),
            source,
        })
}

/// The error and every error below it, joined by `: ` (the driver's own message is only its
/// kind, e.g. "db error"; the server's words are in the source).
pub(crate) fn describe(err: &postgres::Error) -> String {
    let mut text = err.to_string();
    let mut next = std::error::Error::source(err);
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("natsapi_test_1"), "\"natsapi_test_1\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn a_panicking_admin_thread_is_an_error() {
        let err = on_admin_thread::<()>("testing", || panic!("boom")).expect_err("panicked");
        let msg = err.to_string();
        assert!(msg.contains("testing") && msg.contains("boom"), "{msg}");
    }

    #[test]
    fn the_admin_thread_is_outside_any_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let inside = runtime.block_on(async {
            on_admin_thread("probing", || Ok(tokio::runtime::Handle::try_current().is_ok()))
        });
        assert!(!inside.expect("thread ran"), "the admin thread saw a runtime");
    }
}
