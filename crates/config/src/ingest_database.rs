//! Where the ingest tables live (`--ingest-db`, `NATSAPI_INGEST_DB`, YAML `ingest.database`): a
//! SQLite file, or a PostgreSQL database named by its `postgres://` or `postgresql://` URL.
//!
//! Why one setting for both: the ingest tables are a family of the store, which opens either
//! database alike, so the choice is only where. A text that starts with one of the two schemes is
//! a URL, checked (and never shown with its password) as [`PostgresUrl`]; anything else is a path.
//! PostgreSQL's `key=value` form is not accepted here, since it cannot be told from a file name.
//! When no database is named and the store is PostgreSQL, [`load`](crate::load) gives the ingest
//! tables the store's database.

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;

use clap::builder::TypedValueParser;

use crate::parse;
use crate::postgres::PostgresUrl;

/// The database of the ingest tables. `Debug` and `Display` mask a URL's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestDatabase {
    /// A SQLite file (created when missing), committed with the store's `synchronous` setting.
    Sqlite(PathBuf),
    /// A PostgreSQL database, with the store's pool size and statement timeout.
    Postgres(PostgresUrl),
}

impl IngestDatabase {
    /// Reads `s`: a `postgres://` or `postgresql://` URL, else a non-empty path.
    ///
    /// # Errors
    /// A message saying what is wrong; it never quotes a URL, which may hold a password.
    pub fn parse(s: &str) -> Result<IngestDatabase, String> {
        let trimmed = s.trim_start();
        let is_url = ["postgres://", "postgresql://"].iter().any(|scheme| {
            trimmed.get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        });
        if is_url {
            PostgresUrl::parse(trimmed).map(IngestDatabase::Postgres)
        } else {
            parse::path(s).map(IngestDatabase::Sqlite)
        }
    }
}

impl fmt::Display for IngestDatabase {
    /// The file, or the URL with `****` for its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestDatabase::Sqlite(path) => write!(f, "{}", path.display()),
            IngestDatabase::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// Clap's value parser for `--ingest-db`: its error names the flag without quoting the value,
/// which may be a URL with a password.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IngestDatabaseParser;

impl TypedValueParser for IngestDatabaseParser {
    type Value = IngestDatabase;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<IngestDatabase, clap::Error> {
        let parsed = match value.to_str() {
            Some(text) => IngestDatabase::parse(text),
            // Not UTF-8: only a path can be (a URL is ASCII).
            None => Ok(IngestDatabase::Sqlite(PathBuf::from(value))),
        };
        parsed.map_err(|message| crate::parse::invalid_value(cmd, arg, &message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_anything_else_is_a_file() {
        let url = IngestDatabase::parse("postgres://u:secret@db:5432/ingest").unwrap();
        assert!(matches!(&url, IngestDatabase::Postgres(u) if u.expose().ends_with("/ingest")));
        assert!(!format!("{url} {url:?}").contains("secret"));
        // Another spelling of the scheme is a URL with a mistake, not a file name.
        let err = IngestDatabase::parse("PostgreSQL://db/x").unwrap_err();
        assert!(err.contains("use postgres://"), "{err}");
        assert_eq!(
            IngestDatabase::parse("data/ingest.db"),
            Ok(IngestDatabase::Sqlite("data/ingest.db".into()))
        );
        // A key=value string is a (strange) file name, not a connection string.
        assert!(matches!(IngestDatabase::parse("host=db dbname=x"), Ok(IngestDatabase::Sqlite(_))));
        assert!(IngestDatabase::parse("").is_err());
        let err = IngestDatabase::parse("postgres://u:secret@db:port/x").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }
}
