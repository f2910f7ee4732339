//! The YAML configuration file: its shape, an example, and errors that name
//! the file, the line and the dotted key path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use natsapi_client::Token;
use serde::{Deserialize, Deserializer};
use serde_saphyr::MessageFormatter as _;

use crate::{ConfigError, LogFormat, PostgresUrl, StoreKind, Synchronous, WorkerThreads, parse};

/// The whole file. Every key is optional; `deny_unknown_fields` turns a
/// misspelt key into an error instead of a silently ignored setting.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub api: Option<FileApi>,
    pub store: Option<FileStore>,
    pub log: Option<FileLog>,
    pub runtime: Option<FileRuntime>,
    pub targets: Option<BTreeMap<String, FileTarget>>,
    pub ingest: Option<crate::ingest::FileIngest>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileApi {
    pub subsystems: Option<FileSubsystems>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSubsystems {
    pub nats: Option<FileNats>,
    pub http: Option<FileHttp>,
    pub poll: Option<FileHttp>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FileNats {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "nats_addr")]
    pub addr: Option<String>,
    #[serde(default, deserialize_with = "subject")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    #[serde(default, deserialize_with = "byte_size")]
    pub max_payload: Option<usize>,
    #[serde(default, deserialize_with = "positive")]
    pub max_inflight: Option<usize>,
    #[serde(default, deserialize_with = "queue_group")]
    pub queue_group: Option<String>,
    #[serde(default, deserialize_with = "credentials_file")]
    pub credentials: Option<PathBuf>,
    #[serde(default, deserialize_with = "nkey_file")]
    pub nkey: Option<PathBuf>,
    #[serde(default, deserialize_with = "token")]
    pub token: Option<Token>,
    #[serde(default, deserialize_with = "token_file")]
    pub token_file: Option<Token>,
    pub tls: Option<crate::connection::FileTls>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FileHttp {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "http_addr")]
    pub addr: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "idle_timeout")]
    pub idle_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "positive")]
    pub max_connections: Option<usize>,
    /// Only for `api.subsystems.http`.
    pub auth: Option<FileAuth>,
}

/// `api.subsystems.http.auth`: a bearer token, or a user name and password.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAuth {
    pub bearer: Option<String>,
    pub basic: Option<FileBasic>,
}

/// `api.subsystems.http.auth.basic`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBasic {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileStore {
    #[serde(default, deserialize_with = "value_enum")]
    pub kind: Option<StoreKind>,
    pub sqlite: Option<FileSqlite>,
    pub postgres: Option<FilePostgres>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSqlite {
    #[serde(default, deserialize_with = "path")]
    pub path: Option<PathBuf>,
    #[serde(default, deserialize_with = "value_enum")]
    pub synchronous: Option<Synchronous>,
}

/// `store.postgres`; `statement_timeout` is `Some(None)` for `off`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FilePostgres {
    #[serde(default, deserialize_with = "postgres_url")]
    pub url: Option<PostgresUrl>,
    #[serde(default, deserialize_with = "pool_size")]
    pub pool_size: Option<usize>,
    #[serde(default, deserialize_with = "statement_timeout")]
    pub statement_timeout: Option<Option<Duration>>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLog {
    #[serde(default, deserialize_with = "log_level")]
    pub level: Option<String>,
    #[serde(default, deserialize_with = "value_enum")]
    pub format: Option<LogFormat>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FileRuntime {
    #[serde(default, deserialize_with = "worker_threads")]
    pub worker_threads: Option<WorkerThreads>,
}

/// A task target's value, checked by [`parse::target`].
#[derive(Debug, PartialEq)]
pub(crate) struct FileTarget(pub String);

impl<'de> Deserialize<'de> for FileTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse::target(&s).map(FileTarget).map_err(serde::de::Error::custom)
    }
}

/// Reads an optional scalar as text and hands it to `parse`. Scalars are read
/// as strings (serde-saphyr is type-driven, so `4222` reads as "4222"), which
/// gives every key the same syntax as its flag.
pub(crate) fn with<'de, D, T>(
    d: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

fn nats_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    with(d, parse::nats_addr)
}
fn subject<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    with(d, parse::subject)
}
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    with(d, parse::duration)
}
fn idle_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    with(d, parse::idle_timeout)
}
fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    with(d, parse::byte_size)
}
fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    with(d, parse::positive)
}
fn queue_group<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    with(d, parse::queue_group)
}
fn credentials_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    with(d, parse::credentials_file)
}
fn nkey_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    with(d, parse::nkey_file)
}
fn token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Token>, D::Error> {
    with(d, parse::token)
}
fn token_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Token>, D::Error> {
    with(d, parse::token_file)
}
fn http_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    with(d, parse::http_addr)
}
fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    with(d, parse::path)
}
fn postgres_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PostgresUrl>, D::Error> {
    with(d, parse::postgres_url)
}
fn pool_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    with(d, parse::pool_size)
}
fn statement_timeout<'de, D>(d: D) -> Result<Option<Option<Duration>>, D::Error>
where
    D: Deserializer<'de>,
{
    with(d, |s| parse::statement_timeout(s).and_then(parse::check_statement_timeout))
}
fn log_level<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    with(d, parse::log_level)
}
fn worker_threads<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WorkerThreads>, D::Error> {
    with(d, parse::worker_threads)
}

/// Reads one of a [`clap::ValueEnum`]'s names, case-insensitively, so the file
/// accepts exactly what the flag accepts.
fn value_enum<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: clap::ValueEnum,
{
    with(d, |s| {
        T::from_str(s.trim(), true).map_err(|_| {
            let names: Vec<String> = T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_owned())
                .collect();
            format!("{s:?} is not one of {}", names.join(", "))
        })
    })
}

/// A commented YAML configuration file that sets every key to its default
/// (`store.kind`, whose default depends on the mode, is commented out).
#[must_use]
pub fn example_yaml() -> &'static str {
    include_str!("example.yaml")
}

/// Parses the text of the file named `file`.
pub(crate) fn parse_file(file: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let mut path: Option<String> = None;
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
        match Option::<FileConfig>::deserialize(tracked) {
            Ok(v) => Ok(v.unwrap_or_default()),
            Err(e) => {
                path = Some(track.path().to_string());
                Err(e)
            }
        }
    });
    result.map_err(|e| file_error(file, path.as_deref(), &e))
}

/// Turns a serde-saphyr error, plus the key path serde_path_to_error tracked,
/// into a [`ConfigError`].
fn file_error(file: &Path, path: Option<&str>, err: &serde_saphyr::Error) -> ConfigError {
    let file = file.to_owned();
    let (line, column) = match err.location() {
        Some(loc) if loc.line() > 0 => (Some(loc.line()), Some(loc.column())),
        _ => (None, None),
    };
    // serde_path_to_error renders the root as "."; `path` is None when the
    // error happened outside deserialization (e.g. a syntax error found later).
    let key = path.filter(|p| !p.is_empty() && *p != ".").map(str::to_owned);
    let inner = err.without_snippet();
    if let serde_saphyr::Error::SerdeUnknownField { field, expected, .. } = inner {
        // serde_path_to_error's path already ends with the unknown key;
        // append it only if some version stops at the enclosing mapping.
        let key = match key {
            Some(path) if path == *field || path.ends_with(&format!(".{field}")) => path,
            Some(parent) => format!("{parent}.{field}"),
            None => field.clone(),
        };
        return ConfigError::UnknownKey {
            file,
            key: sanitize(&key),
            line,
            column,
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
        };
    }
    // serde_path_to_error writes "?" for a key it could not capture.
    let key = key.map(|k| k.trim_end_matches(".?").to_owned()).filter(|k| k != "?");
    if let serde_saphyr::Error::DuplicateMappingKey { key: dup, .. } = inner {
        let dup = dup.as_deref().unwrap_or("?");
        let full = match key {
            Some(parent) if !parent.ends_with(&format!(".{dup}")) && parent != dup => {
                format!("{parent}.{dup}")
            }
            Some(path) => path,
            None => dup.to_owned(),
        };
        return ConfigError::Syntax {
            file,
            line,
            column,
            message: sanitize(&format!("duplicate key \"{full}\"")),
        };
    }
    let message = sanitize(&serde_saphyr::DefaultMessageFormatter.format_message(inner));
    match key {
        Some(key) => ConfigError::FileValue { file, key: sanitize(&key), line, column, message },
        None => ConfigError::Syntax { file, line, column, message },
    }
}

/// Keeps control characters from the file out of terminal output.
fn sanitize(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_control() { c.escape_debug().collect::<Vec<_>>() } else { vec![c] })
        .collect()
}
