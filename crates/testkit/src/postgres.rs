//! A PostgreSQL database of its own for each test, dropped when the test ends.
//!
//! Tests that need PostgreSQL must not share tables: they run in parallel (nextest runs each in
//! its own process) and a table left by one would change what another sees. So every
//! [`TestDatabase`] is a fresh database with a unique name, created on the server the tests were
//! pointed at and dropped (`WITH (FORCE)`, so connections still open do not keep it) when the
//! value is dropped, also while a panicking test unwinds.
//!
//! The server is `$NATSAPI_TEST_POSTGRES_URL` (a `postgres://` URL or libpq `key=value` string of
//! a role allowed to `CREATE DATABASE`), else `postgres://postgres@127.0.0.1:5432/postgres`.
//! `scripts/test` sets the variable: to a server that already answers, or to a throwaway cluster it
//! starts from Debian's `postgresql` package and stops at the end. The database is reached
//! through [`TestDatabase::url`], a `postgres://` URL any client reads.
//!
//! ```no_run
//! use natsapi_testkit::TestDatabase;
//!
//! let db = TestDatabase::create()?;
//! let mut client = postgres::Client::connect(db.url(), postgres::NoTls).expect("connect");
//! client.batch_execute("CREATE TABLE t (id int)").expect("create table");
//! # Ok::<(), natsapi_testkit::TestkitError>(())
//! ```

mod admin;
mod schema;
mod url;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use admin::describe;
pub use schema::TestSchema;
pub use url::PostgresUrl;

use crate::TestkitError;

/// Environment variable naming the PostgreSQL server the tests create their databases on.
pub const TEST_POSTGRES_URL_ENV: &str = "NATSAPI_TEST_POSTGRES_URL";

/// The server used when [`TEST_POSTGRES_URL_ENV`] is unset or empty.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Prefix of every test database's name: `natsapi_test_<pid>_<counter>_<random>`.
pub const TEST_DATABASE_PREFIX: &str = "natsapi_test_";

/// A fresh database on the test PostgreSQL server, dropped on drop.
pub struct TestDatabase {
    name: String,
    admin: PostgresUrl,
    url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates a database on the test server: `$NATSAPI_TEST_POSTGRES_URL`, else
    /// [`DEFAULT_TEST_POSTGRES_URL`]. Works inside and outside a tokio runtime (it blocks for the
    /// statement's round trips). When no server answers, the error says how to get one.
    pub fn create() -> Result<Self, TestkitError> {
        let from_env = match std::env::var(TEST_POSTGRES_URL_ENV) {
            Ok(value) if !value.trim().is_empty() => Some(value),
            Ok(_) | Err(std::env::VarError::NotPresent) => None,
            Err(source) => return Err(TestkitError::Env { name: TEST_POSTGRES_URL_ENV, source }),
        };
        Self::create_from(from_env.as_deref(), DEFAULT_TEST_POSTGRES_URL)
    }

    /// Creates a database on the server `admin_url` points at (a role allowed to
    /// `CREATE DATABASE`), ignoring the environment.
    pub fn create_on(admin_url: &str) -> Result<Self, TestkitError> {
        let admin = PostgresUrl::parse(admin_url, "the URL given to TestDatabase::create_on")?;
        Self::create_at(admin, "(the URL given to TestDatabase::create_on)".to_owned())
    }

    /// The lookup of [`create`](Self::create), with the variable's value and the default passed
    /// in, so the advice in its errors can be tested without touching the environment.
    fn create_from(from_env: Option<&str>, default_url: &str) -> Result<Self, TestkitError> {
        match from_env {
            Some(text) => {
                let admin = PostgresUrl::parse(text, TEST_POSTGRES_URL_ENV)?;
                let advice = format!(
                    "{TEST_POSTGRES_URL_ENV} names this server: start it, correct the variable, \
                     or unset it to use {DEFAULT_TEST_POSTGRES_URL} (scripts/test starts a \
                     throwaway PostgreSQL when nothing answers there)"
                );
                Self::create_at(admin, advice)
            }
            None => {
                let admin = PostgresUrl::parse(default_url, "the default test PostgreSQL URL")?;
                let advice = format!(
                    "{TEST_POSTGRES_URL_ENV} is unset, so the tests tried this default. Run the \
                     tests through scripts/test (it starts a throwaway PostgreSQL when none \
                     answers on 127.0.0.1:5432), or set {TEST_POSTGRES_URL_ENV} to the \
                     postgres:// URL of a role allowed to CREATE DATABASE"
                );
                Self::create_at(admin, advice)
            }
        }
    }

    fn create_at(admin: PostgresUrl, advice: String) -> Result<Self, TestkitError> {
        let name = unique_name();
        admin::on_admin_thread(&format!("creating database {name}"), || {
            let mut client = admin::connect(&admin).map_err(|source| {
                TestkitError::PostgresUnavailable { url: admin.to_string(), advice, source }
            })?;
            admin::create_database(&mut client, &admin, &name)
        })?;
        let url = admin.with_dbname(&name).url();
        Ok(Self { name, admin, url, dropped: false })
    }

    /// A `postgres://` URL of this database: the server's host, port, user and password with
    /// this database's name. Readable by the `postgres` crates, psql, psycopg and the like.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name, `natsapi_test_<pid>_<counter>_<random>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server the database was created on (the admin URL, with its own database name).
    pub fn admin_url(&self) -> &PostgresUrl {
        &self.admin
    }

    /// Drops the database now and reports a failure (dropping the value only logs one).
    pub fn drop_database(mut self) -> Result<(), TestkitError> {
        self.dropped = true;
        let (admin, name) = (&self.admin, self.name.as_str());
        admin::on_admin_thread(&format!("dropping database {name}"), || {
            admin::drop_database(admin, name)
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin, name) = (&self.admin, self.name.as_str());
        let result = admin::on_admin_thread(&format!("dropping database {name}"), || {
            admin::drop_database(admin, name)
        });
        if let Err(e) = result {
            // Drop cannot fail; stderr reaches the test's output without a tracing subscriber.
            eprintln!("natsapi-testkit: test database {name} was not dropped: {e}");
        }
    }
}

impl fmt::Debug for TestDatabase {
    /// The name and the server, without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// `natsapi_test_<pid>_<counter>_<random>`: the pid and counter keep one machine's names apart,
/// the random part keeps apart runs on machines that share a server (or a reused pid). At most
/// 53 bytes, under PostgreSQL's 63-byte identifier limit, and lower case, so psql needs no quotes.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    // std's RandomState is seeded from the operating system's random source; hashing with it
    // gives an unpredictable value without another dependency.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(pid);
    hasher.write_u64(counter);
    if let Ok(elapsed) = SystemTime::now().duration_since(UNIX_EPOCH) {
        hasher.write_u128(elapsed.as_nanos());
    }
    let random = hasher.finish() as u32;
    format!("{TEST_DATABASE_PREFIX}{pid}_{counter}_{random:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL on a loopback port nothing listens on (bound, then released).
    fn closed_port_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        format!("postgres://postgres:pw@127.0.0.1:{port}/postgres")
    }

    #[test]
    fn names_are_unique_and_shaped() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        let pid = std::process::id().to_string();
        for name in [&a, &b] {
            let rest = name.strip_prefix(TEST_DATABASE_PREFIX).expect("prefix");
            let parts: Vec<&str> = rest.split('_').collect();
            assert_eq!(parts.len(), 3, "{name}");
            assert_eq!(parts[0], pid);
            assert!(parts[1].parse::<u64>().is_ok(), "{name}");
            assert!(parts[2].len() == 8 && parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(name.len() <= 63);
        }
    }

    #[test]
    fn without_the_variable_the_error_says_to_run_scripts_test() {
        let url = closed_port_url();
        let err = TestDatabase::create_from(None, &url).expect_err("nothing listens");
        let msg = err.to_string();
        assert!(matches!(err, TestkitError::PostgresUnavailable { .. }), "{msg}");
        assert!(msg.contains("scripts/test"), "{msg}");
        assert!(msg.contains("set NATSAPI_TEST_POSTGRES_URL"), "{msg}");
        assert!(msg.contains("Connection refused"), "{msg}");
        assert!(!msg.contains(":pw@"), "password shown: {msg}");
    }

    #[test]
    fn with_the_variable_the_error_names_it() {
        let url = closed_port_url();
        let err = TestDatabase::create_from(Some(&url), DEFAULT_TEST_POSTGRES_URL)
            .expect_err("nothing listens");
        let msg = err.to_string();
        assert!(msg.contains("NATSAPI_TEST_POSTGRES_URL names this server"), "{msg}");
        assert!(msg.contains("or unset it"), "{msg}");
        assert!(!msg.contains(":pw@"), "password shown: {msg}");
    }

    #[test]
    fn a_malformed_variable_is_reported_as_such() {
        let err =
            TestDatabase::create_from(Some("postgres://h:port/db"), DEFAULT_TEST_POSTGRES_URL)
                .expect_err("bad port");
        assert!(matches!(err, TestkitError::PostgresUrl { .. }), "{err}");
        assert!(err.to_string().contains(TEST_POSTGRES_URL_ENV), "{err}");
    }
}
