//! Parsers and validators for single configuration values.
//!
//! Every setting goes through the same function whether it comes from a
//! flag, an environment variable or the YAML file, so the three sources
//! accept exactly the same syntax and report the same messages. Each function
//! returns the parsed value or a message that quotes the offending input; the
//! caller adds where the value came from.

use std::net::{Ipv6Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use natsapi_client::{SettingsError, Token, connection};

use crate::WorkerThreads;

/// Parses a positive duration such as `10s`, `500ms`, `1m` or `1h 30m`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|_| format!("{s:?} is not a duration (e.g. 10s, 500ms)"))?;
    if d.is_zero() {
        return Err(format!("{s:?} must be greater than zero"));
    }
    Ok(d)
}

/// Parses an HTTP idle timeout: a [`duration`] of at least one second (an idle SSE stream sends
/// keep-alives at a third of it, so shorter would make them traffic of their own).
pub fn idle_timeout(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d < Duration::from_secs(1) {
        return Err(format!("{s:?} is shorter than the minimum of 1s"));
    }
    Ok(d)
}

/// Parses a positive byte count: a plain integer, or an integer with a unit
/// suffix `B`, `KB`, `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB`
/// (powers of 1024), case-insensitive, optionally separated by spaces.
pub fn byte_size(s: &str) -> Result<usize, String> {
    let bad = || format!("{s:?} is not a byte size (e.g. 1048576, 512KiB, 1MiB)");
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(bad());
    }
    let n: usize = digits.parse().map_err(|_| format!("{s:?} is too large"))?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = n.checked_mul(multiplier).ok_or_else(|| format!("{s:?} is too large"))?;
    if bytes == 0 {
        return Err(format!("{s:?} must be greater than zero"));
    }
    Ok(bytes)
}

/// Parses a positive integer.
pub fn positive(s: &str) -> Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| format!("{s:?} is not a positive integer"))?;
    if n == 0 {
        return Err(format!("{s:?} must be greater than zero"));
    }
    Ok(n)
}

/// The fewest connections a PostgreSQL store's pool may have.
pub const MIN_POSTGRES_POOL_SIZE: usize = 2;

/// Parses the connection count of a PostgreSQL store's pool: an integer of at least
/// [`MIN_POSTGRES_POOL_SIZE`].
pub fn pool_size(s: &str) -> Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| format!("{s:?} is not a positive integer"))?;
    check_pool_size(n)
        .map_err(|_| format!("{s:?} is below the minimum of {MIN_POSTGRES_POOL_SIZE} connections"))
}

/// Checks a pool size that is already a number (see [`pool_size`]).
pub fn check_pool_size(n: usize) -> Result<usize, String> {
    if n < MIN_POSTGRES_POOL_SIZE {
        return Err(format!("{n} is below the minimum of {MIN_POSTGRES_POOL_SIZE} connections"));
    }
    Ok(n)
}

/// Parses a PostgreSQL statement timeout: a duration such as `30s` or `500ms`, or `off`. Zero
/// (`0`, `0s`) is `off` too, as in PostgreSQL's own `statement_timeout`; both give
/// [`Duration::ZERO`], which [`check_statement_timeout`] turns into `None`. Checked as
/// [`check_statement_timeout`] says.
pub fn statement_timeout(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(Duration::ZERO);
    }
    let d = humantime::parse_duration(t)
        .map_err(|_| format!("{s:?} is not a duration or \"off\" (e.g. 30s, 500ms, off)"))?;
    check_statement_timeout(d)?;
    Ok(d)
}

/// Checks a statement timeout: `None` for zero (no timeout), else whole milliseconds
/// (PostgreSQL's unit, so that no value is silently rounded, and none to zero, which would mean
/// no timeout at all) of at most `i32::MAX` milliseconds, about 24.8 days (PostgreSQL's limit).
pub fn check_statement_timeout(d: Duration) -> Result<Option<Duration>, String> {
    let shown = humantime::format_duration(d);
    if d.is_zero() {
        Ok(None)
    } else if !d.subsec_nanos().is_multiple_of(1_000_000) {
        Err(format!("{shown} is not a whole number of milliseconds (PostgreSQL's unit)"))
    } else if d.as_millis() > u128::from(i32::MAX.unsigned_abs()) {
        Err(format!("{shown} is longer than PostgreSQL's limit of 2147483647ms (about 24.8 days)"))
    } else {
        Ok(Some(d))
    }
}

/// Checks a PostgreSQL connection string (see [`PostgresUrl`](crate::PostgresUrl)).
pub fn postgres_url(s: &str) -> Result<crate::PostgresUrl, String> {
    crate::PostgresUrl::parse(s)
}

/// Parses a worker thread count: `auto` (case-insensitive) or a positive
/// integer.
pub fn worker_threads(s: &str) -> Result<WorkerThreads, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("auto") {
        return Ok(WorkerThreads::Auto);
    }
    let n: usize = t.parse().map_err(|_| format!("{s:?} is not a positive integer or \"auto\""))?;
    NonZeroUsize::new(n)
        .map(WorkerThreads::Fixed)
        .ok_or_else(|| format!("{s:?} must be greater than zero (or \"auto\")"))
}

/// Validates a NATS subject to subscribe under: non-empty, dot-separated
/// tokens, no empty token, no whitespace or control characters, and no
/// wildcards (`*`, `>`).
pub fn subject(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("{s:?} is not a valid NATS subject: {why}");
    if s.is_empty() {
        return Err("the NATS subject must not be empty".to_owned());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    if s.contains(['*', '>']) {
        return Err(bad("wildcards (* and >) are not allowed"));
    }
    if s.split('.').any(str::is_empty) {
        return Err(bad("it has an empty token (leading, trailing or double dot)"));
    }
    Ok(s.to_owned())
}

/// Validates a task target's value (the `targets` key): a recv URL, one of
/// `nats://<subject>` (a subject as [`subject`] checks it), `http://…` or
/// `https://…` (with a host), `poll://[any@]<group>`, `poll://[any@]<group>/<id>`
/// or `poll://uni@<group>/<id>` (group and id non-empty, without whitespace,
/// `/`, `@`, `?` or `#`). Schemes are case-insensitive. The server resolves
/// recvs with the same rules (`natsapi_server::delivery::recv`).
pub fn target(s: &str) -> Result<String, String> {
    let bad = |why: String| format!("{s:?} is not a recv URL: {why}");
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(bad("expected nats://<subject>, http(s)://..., poll://any@<group> \
                        or poll://uni@<group>/<id>"
            .to_owned()));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "nats" => subject(rest).map_err(bad)?,
        "http" | "https" => http_url(s).map_err(bad)?,
        "poll" => poll_url(rest).map_err(|why| bad(why.to_owned()))?,
        other => {
            return Err(bad(format!(
                "unsupported scheme {other:?}, use nats://, http://, https:// or poll://"
            )));
        }
    };
    Ok(s.to_owned())
}

/// An `http://` or `https://` URL with a host and no whitespace.
fn http_url(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or control characters".to_owned());
    }
    match url::Url::parse(s) {
        Err(e) => Err(e.to_string()),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Err("it has no host".to_owned()),
        Ok(_) => Ok(s.to_owned()),
    }
}

/// `any@<group>[/<id>]` or `uni@<group>/<id>`, the part after `poll://`; without a cast
/// (`<group>[/<id>]`, as the Resonate Python SDK sends) the cast is `any`.
fn poll_url(rest: &str) -> Result<String, &'static str> {
    let (cast, path) = rest.split_once('@').unwrap_or(("any", rest));
    if !matches!(cast, "any" | "uni") {
        return Err("the cast before @ must be any or uni");
    }
    let (group, id) = match path.split_once('/') {
        Some((group, id)) => (group, Some(id)),
        None => (path, None),
    };
    let name = |s: &str| {
        !s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#'))
    };
    if group.is_empty() {
        return Err("the group is empty");
    }
    if !name(group) {
        return Err("the group contains whitespace, control characters or one of / @ ? #");
    }
    match id {
        None if cast == "uni" => Err("cast uni needs an id"),
        Some("") => Err("the id is empty"),
        Some(id) if !name(id) => {
            Err("the id contains whitespace, control characters or one of / @ ? #")
        }
        _ => Ok(rest.to_owned()),
    }
}

/// Validates a NATS queue group name: non-empty, no whitespace or control
/// characters, no wildcards.
pub fn queue_group(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("the queue group must not be empty".to_owned());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) || s.contains(['*', '>']) {
        return Err(format!(
            "{s:?} is not a valid queue group: no whitespace, control characters or wildcards allowed"
        ));
    }
    Ok(s.to_owned())
}

/// Validates the NATS server address: one server or a comma-separated list.
/// Each server is `[scheme://][user[:password]@]host[:port]` where scheme is
/// `nats`, `tls`, `ws` or `wss` (the web socket schemes also allow a path),
/// host is a name, an IPv4 address or a bracketed IPv6 address, and port is
/// 1-65535. Returns the list with surrounding whitespace trimmed.
pub fn nats_addr(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the NATS address must not be empty".to_owned());
    }
    let mut servers = Vec::new();
    for server in t.split(',') {
        let server = server.trim();
        if server.is_empty() {
            return Err(format!("{s:?} has an empty entry in its server list"));
        }
        nats_server(server).map_err(|why| {
            format!(
                "{server:?} is not a NATS server address ({why}; \
                 expected e.g. nats://localhost:4222 or localhost:4222)"
            )
        })?;
        servers.push(server);
    }
    Ok(servers.join(","))
}

fn nats_server(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace".to_owned());
    }
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, s),
    };
    let web_socket = match scheme.as_deref() {
        None | Some("nats" | "tls") => false,
        Some("ws" | "wss") => true,
        Some(other) => {
            return Err(format!(
                "unsupported scheme {other:?}, use nats://, tls://, ws:// or wss://"
            ));
        }
    };
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path),
        None => (rest, ""),
    };
    if !path.is_empty() && !web_socket {
        return Err("only ws:// and wss:// addresses may have a path".to_owned());
    }
    let host_port = match authority.rsplit_once('@') {
        Some(("", _)) => return Err("empty user before @".to_owned()),
        Some((_, host_port)) => host_port,
        None => authority,
    };
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (ip, after) =
            bracketed.split_once(']').ok_or_else(|| "unclosed [ in IPv6 address".to_owned())?;
        ip.parse::<Ipv6Addr>().map_err(|_| format!("{ip:?} is not an IPv6 address"))?;
        match after {
            "" => (ip, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None => return Err("unexpected text after ]".to_owned()),
            },
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => {
                if port.contains(':') {
                    return Err("IPv6 addresses must be written in brackets".to_owned());
                }
                (host, Some(port))
            }
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    if !host_port.starts_with('[')
        && !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(format!("{host:?} is not a host name"));
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(1..) => {}
            _ => return Err(format!("{port:?} is not a port (1-65535)")),
        }
    }
    Ok(())
}

/// Validates the HTTP listen address: an IP socket address such as
/// `0.0.0.0:8001`, `127.0.0.1:0` (any free port) or `[::]:8001`.
pub fn http_addr(s: &str) -> Result<String, String> {
    let t = s.trim();
    t.parse::<SocketAddr>().map_err(|_| {
        format!(
            "{s:?} is not a socket address (an IP address and a port, \
             e.g. 0.0.0.0:8001 or 127.0.0.1:0)"
        )
    })?;
    Ok(t.to_owned())
}

/// Validates a non-empty file system path.
pub fn path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("the path must not be empty".to_owned());
    }
    Ok(PathBuf::from(s))
}

/// A file that `check` accepts; the message says what is wrong with it.
fn checked_file(
    s: &str,
    check: impl Fn(&Path) -> Result<(), SettingsError>,
) -> Result<PathBuf, String> {
    let file = path(s)?;
    check(&file).map_err(|e| e.to_string())?;
    Ok(file)
}

/// Validates a NATS credentials (`.creds`) file: readable, with a user JWT and an NKey seed.
pub fn credentials_file(s: &str) -> Result<PathBuf, String> {
    checked_file(s, connection::check_credentials_file)
}

/// Validates a file holding a NATS NKey seed (`SU...`).
pub fn nkey_file(s: &str) -> Result<PathBuf, String> {
    checked_file(s, |file| connection::read_nkey_seed(file).map(drop))
}

/// Validates a PEM file holding at least one certificate (a CA file or a client certificate).
pub fn certificate_file(s: &str) -> Result<PathBuf, String> {
    checked_file(s, connection::check_certificates)
}

/// Validates a PEM file holding a private key.
pub fn private_key_file(s: &str) -> Result<PathBuf, String> {
    checked_file(s, connection::check_private_key)
}

/// A NATS token: not empty (surrounding whitespace is removed).
pub fn token(s: &str) -> Result<Token, String> {
    Token::new(s).map_err(|_| "the token must not be empty".to_owned())
}

/// Reads a NATS token from the file named `s`.
pub fn token_file(s: &str) -> Result<Token, String> {
    Token::from_file(&path(s)?).map_err(|e| e.to_string())
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

fn is_level(s: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s))
}

fn is_target(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
}

/// Checks that a log filter looks like a valid `tracing` `EnvFilter`
/// directive list: comma-separated items, each a level (`trace`, `debug`,
/// `info`, `warn`, `error`, `off`), `target=level`, or a span directive
/// (`target[span{field=value}]=level`). A bare word that is not a level is
/// rejected, so a typo such as `infoo` is caught instead of silently becoming
/// a target name. Returns the filter with surrounding whitespace trimmed.
pub fn log_level(s: &str) -> Result<String, String> {
    let t = s.trim();
    let hint = "expected a level (trace, debug, info, warn, error, off) \
                or target=level directives, e.g. info,natsapi=debug";
    let mut any = false;
    for directive in t.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        any = true;
        let ok = match directive.rsplit_once('=') {
            Some((target, level)) if directive.contains('[') => {
                is_level(level) && !target.is_empty() && target.ends_with(']')
            }
            Some((target, level)) => is_level(level) && is_target(target),
            None if directive.contains('[') => directive.ends_with(']'),
            None => is_level(directive),
        };
        if !ok {
            return Err(format!("{directive:?} is not a valid log filter directive ({hint})"));
        }
    }
    if !any {
        return Err(format!("the log level must not be empty ({hint})"));
    }
    Ok(t.to_owned())
}

/// The error of a custom flag parser whose value is invalid: clap's own wording, with `message`
/// saying why (and never the value, which may hold a secret).
pub(crate) fn invalid_value(
    cmd: &clap::Command,
    arg: Option<&clap::Arg>,
    message: &str,
) -> clap::Error {
    let name = arg.map_or_else(|| "...".to_owned(), ToString::to_string);
    clap::Error::raw(
        clap::error::ErrorKind::ValueValidation,
        format!("invalid value for '{name}': {message}\n"),
    )
    .with_cmd(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration(" 1m "), Ok(Duration::from_secs(60)));
        assert_eq!(duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            duration("ten seconds").unwrap_err(),
            r#""ten seconds" is not a duration (e.g. 10s, 500ms)"#
        );
        assert!(duration("10").is_err());
        assert!(duration("0s").unwrap_err().contains("greater than zero"));
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size("1048576"), Ok(1_048_576));
        assert_eq!(byte_size("1MiB"), Ok(1 << 20));
        assert_eq!(byte_size("1 mib"), Ok(1 << 20));
        assert_eq!(byte_size("512KiB"), Ok(512 * 1024));
        assert_eq!(byte_size("2MB"), Ok(2_000_000));
        assert_eq!(byte_size("64b"), Ok(64));
        assert!(byte_size("0").unwrap_err().contains("greater than zero"));
        assert!(byte_size("-1").is_err());
        assert!(byte_size("1.5MiB").is_err());
        assert!(byte_size("MiB").is_err());
        assert!(byte_size("1 TiB").is_err());
        assert!(byte_size("99999999999999999999999").is_err());
        assert!(byte_size(&format!("{}GiB", usize::MAX)).is_err());
    }

    #[test]
    fn positives() {
        assert_eq!(positive("1024"), Ok(1024));
        assert!(positive("0").is_err());
        assert!(positive("-3").is_err());
        assert!(positive("many").is_err());
    }

    #[test]
    fn pool_sizes() {
        assert_eq!(pool_size("8"), Ok(8));
        assert_eq!(pool_size(" 2 "), Ok(2));
        assert_eq!(pool_size("1").unwrap_err(), r#""1" is below the minimum of 2 connections"#);
        assert!(pool_size("0").unwrap_err().contains("minimum of 2"));
        for bad in ["", "-2", "eight", "2.5"] {
            assert!(pool_size(bad).unwrap_err().contains("not a positive integer"), "{bad:?}");
        }
        assert_eq!(check_pool_size(1).unwrap_err(), "1 is below the minimum of 2 connections");
    }

    #[test]
    fn statement_timeouts() {
        assert_eq!(statement_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(statement_timeout(" 1m 500ms "), Ok(Duration::from_millis(60_500)));
        for off in ["off", "OFF", " off ", "0", "0s", "0ms"] {
            assert_eq!(statement_timeout(off), Ok(Duration::ZERO), "{off:?}");
        }
        assert_eq!(check_statement_timeout(Duration::ZERO), Ok(None));
        let ms = Duration::from_millis(1);
        assert_eq!(check_statement_timeout(ms), Ok(Some(ms)));
        let limit = Duration::from_millis(2_147_483_647);
        assert_eq!(statement_timeout("2147483647ms"), Ok(limit));
        assert_eq!(
            statement_timeout("2147483648ms").unwrap_err(),
            "24days 20h 31m 23s 648ms is longer than PostgreSQL's limit of 2147483647ms \
             (about 24.8 days)"
        );
        assert_eq!(
            statement_timeout("500us").unwrap_err(),
            "500us is not a whole number of milliseconds (PostgreSQL's unit)"
        );
        assert!(statement_timeout("1ms 1us").unwrap_err().contains("whole number"));
        assert_eq!(
            statement_timeout("soon").unwrap_err(),
            r#""soon" is not a duration or "off" (e.g. 30s, 500ms, off)"#
        );
        assert!(statement_timeout("").is_err());
        assert!(statement_timeout("10").is_err(), "a unit is required, as for every duration");
    }

    #[test]
    fn worker_thread_counts() {
        let fixed = |n| WorkerThreads::Fixed(NonZeroUsize::new(n).unwrap());
        assert_eq!(worker_threads("auto"), Ok(WorkerThreads::Auto));
        assert_eq!(worker_threads(" AUTO "), Ok(WorkerThreads::Auto));
        assert_eq!(worker_threads("1"), Ok(fixed(1)));
        assert_eq!(worker_threads(" 8 "), Ok(fixed(8)));
        assert_eq!(
            worker_threads("0").unwrap_err(),
            r#""0" must be greater than zero (or "auto")"#
        );
        assert_eq!(
            worker_threads("many").unwrap_err(),
            r#""many" is not a positive integer or "auto""#
        );
        for bad in ["", "-1", "1.5", "2 threads", "automatic", "99999999999999999999999"] {
            assert!(worker_threads(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn subjects() {
        for ok in ["resonate.server", "a", "natsapi.v1-test_x", "a.b.c.d"] {
            assert_eq!(subject(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in ["", "a b", "a.*", "a.>", ">", "a..b", ".a", "a.", "a\tb", "a*b", "a\u{0}b"] {
            assert!(subject(bad).is_err(), "{bad:?} accepted");
        }
        assert!(subject("a..b").unwrap_err().contains("empty token"));
        assert!(subject("a.*").unwrap_err().contains("wildcards"));
    }

    #[test]
    fn targets() {
        let ok = [
            "nats://orders.tasks",
            "NATS://a",
            "http://127.0.0.1:8080/tasks",
            "https://example.com",
            "poll://any@workers",
            "poll://any@workers/w1",
            "poll://uni@workers/w1",
            "poll://workers",
            "poll://workers/w1",
        ];
        for ok in ok {
            assert_eq!(target(ok).as_deref(), Ok(ok), "{ok}");
        }
        let bad = [
            "",
            "orders",
            "default",
            "nats://",
            "nats://a.*",
            "nats://a b",
            "ftp://x",
            "http://",
            "https://a b",
            "poll://",
            "poll://all@g",
            "poll://any@",
            "poll://uni@g",
            "poll://any@g/",
            "poll://any@g/a/b",
            "poll://any@g?x",
        ];
        for bad in bad {
            assert!(target(bad).is_err(), "{bad:?} accepted");
        }
        assert!(target("ftp://x").unwrap_err().contains(r#"unsupported scheme "ftp""#));
        assert!(target("poll://uni@g").unwrap_err().contains("cast uni needs an id"));
    }

    #[test]
    fn queue_groups() {
        assert!(queue_group("natsapi").is_ok());
        assert!(queue_group("natsapi.workers").is_ok());
        assert!(queue_group("").is_err());
        assert!(queue_group("a b").is_err());
        assert!(queue_group("a*").is_err());
    }

    #[test]
    fn nats_addrs() {
        for ok in [
            "nats://localhost:4222",
            "localhost:4222",
            "localhost",
            "127.0.0.1:4222",
            "tls://nats.example.com:4443",
            "ws://host:8080/nats",
            "wss://host",
            "nats://user:secret@host:4222",
            "nats://token@host",
            "NATS://[::1]:4222",
            "[::1]",
            "nats://a:4222,nats://b:4222",
        ] {
            assert!(nats_addr(ok).is_ok(), "{ok}: {:?}", nats_addr(ok));
        }
        assert_eq!(nats_addr(" nats://a:1 , b:2 ").as_deref(), Ok("nats://a:1,b:2"));
        for bad in [
            "",
            " ",
            "http://host:4222",
            "nats://",
            "nats://host:port",
            "nats://host:0",
            "nats://host:70000",
            "host:4222/path",
            "a,,b",
            "nats://a b",
            "::1",
            "[::1",
            "[nothost]:4222",
            "@host",
            "ho$t",
        ] {
            assert!(nats_addr(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn http_addrs() {
        for ok in ["0.0.0.0:8001", "127.0.0.1:0", "[::]:8001", "[::1]:80"] {
            assert!(http_addr(ok).is_ok(), "{ok}");
        }
        for bad in ["", "localhost:8001", "0.0.0.0", ":8001", "0.0.0.0:70000"] {
            assert!(http_addr(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn log_levels() {
        for ok in [
            "info",
            "DEBUG",
            "off",
            "info,natsapi=debug",
            "warn, async_nats=error,natsapi_server::nats=trace",
            "natsapi[request{op=promises.create}]=debug",
            "info,",
        ] {
            assert!(log_level(ok).is_ok(), "{ok}: {:?}", log_level(ok));
        }
        for bad in ["", " , ", "infoo", "verbose", "natsapi=loud", "=info", "a b=info"] {
            assert!(log_level(bad).is_err(), "{bad:?} accepted");
        }
    }
}
