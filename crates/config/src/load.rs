//! Loading: flags and environment variables over the YAML file over the
//! defaults of the mode.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use clap::Args as _;

use crate::{ConfigError, Mode, ServerArgs, Settings, file, parse};

/// Resolves the settings: reads the YAML file named by `args.config`, if
/// any, and applies `args` (flags and environment variables, which clap has
/// already merged) over it and over the defaults of `mode`.
///
/// # Errors
/// [`ConfigError::ReadFile`] if the file cannot be read, and any error of
/// [`load_from`].
pub fn load(mode: Mode, args: &ServerArgs) -> Result<Settings, ConfigError> {
    match &args.config {
        None => load_from(mode, args, None),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?;
            load_from(mode, args, Some((path, &text)))
        }
    }
}

/// Like [`load`], but takes the file's name and text instead of reading
/// `args.config` (which is ignored).
///
/// # Errors
/// A [`ConfigError`] naming the file, line and key path of a YAML syntax
/// error, an unknown key or a bad value, or the flag of a bad value in `args`
/// (possible only if `args` was built without clap's value parsers).
pub fn load_from(
    mode: Mode,
    args: &ServerArgs,
    yaml: Option<(&Path, &str)>,
) -> Result<Settings, ConfigError> {
    let mut settings = Settings::defaults(mode);
    let mut ingest_database_named = args.ingest_db.is_some();
    if let Some((path, text)) = yaml {
        let file = file::parse_file(path, text)?;
        ingest_database_named |= file.ingest.as_ref().is_some_and(|i| i.names_database());
        apply_file(&mut settings, path, file)?;
    }
    apply_args(&mut settings, args)?;
    check_store(&settings.store)?;
    if settings.store.kind != crate::StoreKind::Memory {
        // Promises kept durably: the ingest data beside them lasts as long.
        settings.ingest.temp_database = false;
    }
    if !ingest_database_named
        && settings.store.kind == crate::StoreKind::Postgres
        && let Some(url) = &settings.store.postgres.url
    {
        // One database for everything, unless the ingest tables are sent elsewhere.
        settings.ingest.database = crate::IngestDatabase::Postgres(url.clone());
    }
    let nats = &settings.api.nats;
    crate::connection::check(&nats.connection, &nats.addr)?;
    Ok(settings)
}

/// Overwrites `slot` with `value` if there is one.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The HTTP credentials `auth` names: one of a bearer token or a user and password.
fn http_auth(path: &Path, auth: file::FileAuth) -> Result<crate::HttpAuth, ConfigError> {
    let bad = |key: &str, message: &str| ConfigError::FileValue {
        file: path.to_owned(),
        key: format!("api.subsystems.http.auth{key}"),
        line: None,
        column: None,
        message: message.to_owned(),
    };
    match (auth.bearer, auth.basic) {
        (Some(token), None) if token.trim().is_empty() => Err(bad(".bearer", "must not be empty")),
        (Some(token), None) => Ok(crate::HttpAuth::Bearer(token)),
        (None, Some(basic)) if basic.username.is_empty() || basic.username.contains(':') => {
            Err(bad(".basic.username", "must be non-empty and contain no ':'"))
        }
        (None, Some(basic)) => {
            Ok(crate::HttpAuth::Basic { username: basic.username, password: basic.password })
        }
        (Some(_), Some(_)) => Err(bad("", "set either bearer or basic, not both")),
        (None, None) => Err(bad("", "set bearer or basic")),
    }
}

/// Applies the file's values; the file parser has checked them, but for the credentials.
fn apply_file(s: &mut Settings, path: &Path, f: file::FileConfig) -> Result<(), ConfigError> {
    let subsystems = f.api.and_then(|a| a.subsystems).unwrap_or_default();
    let nats = subsystems.nats.unwrap_or_default();
    let n = &mut s.api.nats;
    set(&mut n.enabled, nats.enabled);
    set(&mut n.addr, nats.addr);
    set(&mut n.subject, nats.subject);
    set(&mut n.timeout, nats.timeout);
    set(&mut n.max_payload, nats.max_payload);
    set(&mut n.max_inflight, nats.max_inflight);
    set(&mut n.queue_group, nats.queue_group);
    let connection = crate::connection::FileConnection {
        credentials: nats.credentials,
        nkey: nats.nkey,
        token: nats.token,
        token_file: nats.token_file,
        tls: nats.tls,
    };
    connection.apply(&mut n.connection, path)?;
    let mut http = subsystems.http.unwrap_or_default();
    if let Some(auth) = http.auth.take() {
        s.api.http_auth = Some(http_auth(path, auth)?);
    }
    apply_file_http(&mut s.api.http, http);
    let poll = subsystems.poll.unwrap_or_default();
    if poll.auth.is_some() {
        return Err(ConfigError::FileValue {
            file: path.to_owned(),
            key: "api.subsystems.poll.auth".into(),
            line: None,
            column: None,
            message: "the poll listener asks for the credentials of api.subsystems.http.auth; \
                      set them there"
                .into(),
        });
    }
    apply_file_http(&mut s.api.poll, poll);
    let store = f.store.unwrap_or_default();
    set(&mut s.store.kind, store.kind);
    let sqlite = store.sqlite.unwrap_or_default();
    set(&mut s.store.sqlite.path, sqlite.path);
    set(&mut s.store.sqlite.synchronous, sqlite.synchronous);
    let postgres = store.postgres.unwrap_or_default();
    let pg = &mut s.store.postgres;
    set(&mut pg.url, postgres.url.map(Some));
    set(&mut pg.pool_size, postgres.pool_size);
    set(&mut pg.statement_timeout, postgres.statement_timeout);
    let log = f.log.unwrap_or_default();
    set(&mut s.log.level, log.level.map(Some));
    set(&mut s.log.format, log.format);
    let runtime = f.runtime.unwrap_or_default();
    set(&mut s.runtime.worker_threads, runtime.worker_threads);
    if let Some(ingest) = f.ingest {
        ingest.apply(&mut s.ingest, path)?;
    }
    if let Some(targets) = f.targets {
        s.targets = targets.into_iter().map(|(name, target)| (name, target.0)).collect();
    }
    Ok(())
}

/// Applies a listener's values from the file.
fn apply_file_http(s: &mut crate::HttpSettings, f: file::FileHttp) {
    set(&mut s.enabled, f.enabled);
    if f.addr.is_some() {
        s.any_port_if_busy = false;
    }
    set(&mut s.addr, f.addr);
    set(&mut s.limits.header_read_timeout, f.header_read_timeout);
    set(&mut s.limits.idle_timeout, f.idle_timeout);
    set(&mut s.limits.max_connections, f.max_connections);
}

/// Applies the flags (and environment variables, which clap has merged).
///
/// Clap has checked every value it parsed, but `ServerArgs` may also be built
/// by hand. Booleans, enums and [`WorkerThreads`](crate::WorkerThreads) cannot
/// hold a bad value and are copied; strings, paths and numbers (which may be
/// zero) go through the same check as clap's value parser, and an error names
/// the field's flag and environment variable as [`ServerArgs`] declares them.
fn apply_args(s: &mut Settings, a: &ServerArgs) -> Result<(), ConfigError> {
    let n = &mut s.api.nats;
    set(&mut n.enabled, a.api_nats_enable);
    check(&mut n.addr, a.api_nats_addr.as_deref(), "api_nats_addr", parse::nats_addr)?;
    check(&mut n.subject, a.api_nats_subject.as_deref(), "api_nats_subject", parse::subject)?;
    check(&mut n.timeout, a.api_nats_timeout.as_ref(), "api_nats_timeout", nonzero)?;
    check(&mut n.max_payload, a.api_nats_max_payload.as_ref(), "api_nats_max_payload", nonzero)?;
    check(&mut n.max_inflight, a.api_nats_max_inflight.as_ref(), "api_nats_max_inflight", nonzero)?;
    let queue_group = a.api_nats_queue_group.as_deref();
    check(&mut n.queue_group, queue_group, "api_nats_queue_group", parse::queue_group)?;
    a.connection.apply(&mut n.connection)?;
    set(&mut s.api.http.enabled, a.api_http_enable);
    listen_addr(&mut s.api.http, a.api_http_addr.as_deref(), "api_http_addr")?;
    set(&mut s.api.poll.enabled, a.poll_enable);
    listen_addr(&mut s.api.poll, a.poll_addr.as_deref(), "poll_addr")?;
    set(&mut s.store.kind, a.store);
    let path = a.store_sqlite_path.as_deref();
    check(&mut s.store.sqlite.path, path, "store_sqlite_path", non_empty_path)?;
    set(&mut s.store.sqlite.synchronous, a.store_sqlite_synchronous);
    let pg = &mut s.store.postgres;
    set(&mut pg.url, a.store_postgres_url.clone().map(Some));
    let pool_size = a.store_postgres_pool_size.as_ref();
    check(&mut pg.pool_size, pool_size, "store_postgres_pool_size", |n| {
        parse::check_pool_size(*n)
    })?;
    let timeout = a.store_postgres_statement_timeout.as_ref();
    let id = "store_postgres_statement_timeout";
    check(&mut pg.statement_timeout, timeout, id, |d| parse::check_statement_timeout(*d))?;
    let level = a.log_level.as_deref();
    check(&mut s.log.level, level, "log_level", |v| parse::log_level(v).map(Some))?;
    set(&mut s.log.format, a.log_format);
    set(&mut s.runtime.worker_threads, a.worker_threads);
    let i = &mut s.ingest;
    set(&mut i.gateway.enabled, a.ingest_enable);
    listen_addr(&mut i.gateway, a.ingest_addr.as_deref(), "ingest_addr")?;
    set(&mut i.worker_enabled, a.worker_enable);
    let stream = a.ingest_stream.as_deref();
    check(&mut i.stream, stream, "ingest_stream", crate::ingest::stream_name)?;
    if a.ingest_db.is_some() {
        i.temp_database = false;
    }
    set(&mut i.database, a.ingest_db.clone());
    set(&mut i.rpc.freshness, a.rpc_freshness);
    set(&mut i.rpc.require_ts, a.rpc_require_ts);
    Ok(())
}

/// Checks that the store's settings are complete: a PostgreSQL store needs its URL, which has
/// no default.
fn check_store(store: &crate::StoreSettings) -> Result<(), ConfigError> {
    if store.kind == crate::StoreKind::Postgres && store.postgres.url.is_none() {
        let (flag, env) = arg_names("store_postgres_url");
        return Err(ConfigError::Missing {
            needed_by: "the postgres store (--store, NATSAPI_STORE or store.kind)",
            what: "a connection URL",
            flag,
            env,
            key: "store.postgres.url",
        });
    }
    Ok(())
}

/// Sets a listener's address from the [`ServerArgs`] field `id`: an address given is the one
/// to listen on, never replaced by a free port.
fn listen_addr(
    s: &mut crate::HttpSettings,
    addr: Option<&str>,
    id: &str,
) -> Result<(), ConfigError> {
    if addr.is_some() {
        s.any_port_if_busy = false;
    }
    check(&mut s.addr, addr, id, parse::http_addr)
}

/// Overwrites `slot` with `value` checked by `parse`; a bad value is an error
/// naming the flag of the [`ServerArgs`] field `id`.
pub(crate) fn check<U: ?Sized, T>(
    slot: &mut T,
    value: Option<&U>,
    id: &str,
    parse: impl Fn(&U) -> Result<T, String>,
) -> Result<(), ConfigError> {
    if let Some(v) = value {
        *slot = parse(v).map_err(|message| {
            let (flag, env) = arg_names(id);
            ConfigError::ArgValue { flag, env, message }
        })?;
    }
    Ok(())
}

/// Rejects zero (a value clap's parser would have rejected).
fn nonzero<T: PartialEq + Default + Copy + std::fmt::Debug>(v: &T) -> Result<T, String> {
    if *v == T::default() { Err(format!("{v:?} must be greater than zero")) } else { Ok(*v) }
}

/// What [`parse::path`] checks, for a path that may not be UTF-8.
fn non_empty_path(v: &Path) -> Result<PathBuf, String> {
    if v.as_os_str().is_empty() {
        Err("the path must not be empty".to_owned())
    } else {
        Ok(v.to_path_buf())
    }
}

/// The flag (`--api-nats-subject`) and environment variable
/// (`NATSAPI_API_NATS_SUBJECT`) of the [`ServerArgs`] field `id`, read from
/// clap's declaration of the field.
///
/// # Panics
/// If `ServerArgs` has no field `id` with a long flag and an environment
/// variable: a bug in this crate, which the tests rule out.
fn arg_names(id: &str) -> (&'static str, &'static str) {
    /// `(id, flag, env)` of every field, built the first time an error needs them.
    static NAMES: LazyLock<Vec<(String, String, String)>> = LazyLock::new(|| {
        ServerArgs::augment_args(clap::Command::new("natsapi"))
            .get_arguments()
            .filter_map(|arg| {
                let long = arg.get_long()?;
                let env = arg.get_env()?.to_str()?;
                Some((arg.get_id().to_string(), format!("--{long}"), env.to_owned()))
            })
            .collect()
    });
    NAMES
        .iter()
        .find(|(field, _, _)| field == id)
        .map(|(_, flag, env)| (flag.as_str(), env.as_str()))
        .unwrap_or_else(|| panic!("ServerArgs has no field {id:?} with a flag and a variable"))
}
