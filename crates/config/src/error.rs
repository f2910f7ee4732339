//! Configuration errors.

use std::fmt;
use std::path::PathBuf;

/// Why the configuration could not be loaded. Each variant names the source
/// of the problem: the file (with line, column and dotted key path where
/// known) or the flag and its environment variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file named by `--config` could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid YAML, or its top level is not a mapping.
    #[error("{}: invalid YAML: {message}", Where(file, *line, *column))]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },

    /// The file has a key this version does not know, such as a misspelt one.
    #[error(
        "{}: unknown key \"{key}\"{}",
        Where(file, *line, *column),
        Expected(expected)
    )]
    UnknownKey {
        /// The file.
        file: PathBuf,
        /// Dotted path of the key, e.g. `api.subsystems.nats.subjct`.
        key: String,
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
        /// The keys allowed at that place.
        expected: Vec<String>,
    },

    /// A key in the file has a bad value.
    #[error("{}: invalid value for {key}: {message}", Where(file, *line, *column))]
    FileValue {
        /// The file.
        file: PathBuf,
        /// Dotted path of the key, e.g. `api.subsystems.nats.timeout`.
        key: String,
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
        /// What is wrong with the value.
        message: String,
    },

    /// Settings that are each valid but do not go together; the message names their YAML keys
    /// and flags.
    #[error("{message}")]
    Conflict {
        /// What does not go together.
        message: String,
    },

    /// A setting that another one requires is set nowhere; the message names its flag,
    /// environment variable and YAML key.
    #[error("{needed_by} needs {what}: set {flag}, {env} or {key} in the configuration file")]
    Missing {
        /// The setting that requires it, e.g. `the postgres store (--store, …)`.
        needed_by: &'static str,
        /// What is missing, e.g. `a connection URL`.
        what: &'static str,
        /// Its flag, e.g. `--store-postgres-url`.
        flag: &'static str,
        /// Its environment variable, e.g. `NATSAPI_STORE_POSTGRES_URL`.
        env: &'static str,
        /// Its dotted YAML key, e.g. `store.postgres.url`.
        key: &'static str,
    },

    /// A flag (or its environment variable) has a bad value.
    #[error("invalid value for {flag} (or {env}): {message}")]
    ArgValue {
        /// The flag, e.g. `--api-nats-subject`.
        flag: &'static str,
        /// Its environment variable, e.g. `NATSAPI_API_NATS_SUBJECT`.
        env: &'static str,
        /// What is wrong with the value.
        message: String,
    },
}

/// Displays `file`, `file:line` or `file:line:column`.
struct Where<'a>(&'a PathBuf, Option<u64>, Option<u64>);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())?;
        if let Some(line) = self.1 {
            write!(f, ":{line}")?;
            if let Some(column) = self.2 {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// Displays ` (expected one of: a, b)` or nothing.
struct Expected<'a>(&'a [String]);

impl fmt::Display for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => Ok(()),
            keys => write!(f, " (expected one of: {})", keys.join(", ")),
        }
    }
}
