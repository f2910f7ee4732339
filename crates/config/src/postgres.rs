//! The PostgreSQL connection string of `--store-postgres-url` (`NATSAPI_STORE_POSTGRES_URL`, YAML
//! `store.postgres.url`): checked once, and never shown with its password.
//!
//! Why a type of its own: the string usually carries a password, and settings get printed (`{:?}`
//! in logs and test failures, the start-up line), so the text is reachable only through
//! [`PostgresUrl::expose`]; `Debug` and `Display` mask every password. For the same reason no
//! error quotes the input: clap's own value errors do, so the flag has its own value parser
//! ([`PostgresUrlParser`]).
//!
//! The check is of syntax only, in the two forms libpq and the Rust drivers accept:
//! - a URL `postgres[ql]://[user[:password]@][host][:port][,host[:port]…][/dbname][?key=value&…]`
//!   (an empty host means the driver's default, e.g. a Unix socket named in `?host=`; an `@`
//!   or `/` in the user or password percent-encoded, as drivers read the first as its end);
//! - `key=value` pairs separated by whitespace, a value single-quoted when it holds spaces, with
//!   `\'` and `\\` escaped.
//!
//! Whether the keywords, hosts and database exist is the driver's business when the store opens.

use std::ffi::OsStr;
use std::fmt;
use std::ops::Range;

use clap::builder::TypedValueParser;

/// A PostgreSQL connection string, a URL or `key=value` pairs (see the module docs), whose
/// `Debug` and `Display` write `****` for every password: in the URL's `user:password@`, and in
/// any query parameter or keyword whose name contains `pass` (`password`, `passfile`, …).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// The connection string, surrounding whitespace removed.
    text: String,
    /// Byte ranges of `text` that hold a password, in order and disjoint.
    secrets: Vec<Range<usize>>,
}

impl PostgresUrl {
    /// Checks `s` (surrounding whitespace removed) as a PostgreSQL connection string.
    ///
    /// # Errors
    /// A message saying what is wrong; it never quotes the input, which may hold a password.
    pub fn parse(s: &str) -> Result<PostgresUrl, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("the PostgreSQL connection string must not be empty".to_owned());
        }
        let secrets = match url_scheme(text) {
            Some(scheme) => url_secrets(text, scheme)?,
            None => conninfo_secrets(text)?,
        };
        Ok(PostgresUrl { text: text.to_owned(), secrets })
    }

    /// The connection string itself, password included: for the driver, never for output.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for PostgresUrl {
    /// The connection string with `****` for each password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0;
        for secret in &self.secrets {
            f.write_str(&self.text[shown..secret.start])?;
            f.write_str("****")?;
            shown = secret.end;
        }
        f.write_str(&self.text[shown..])
    }
}

impl fmt::Debug for PostgresUrl {
    /// `PostgresUrl("…")` with `****` for each password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({:?})", self.to_string())
    }
}

/// Whether a URL query parameter or a keyword names a password.
fn names_a_secret(key: &str) -> bool {
    key.to_ascii_lowercase().contains("pass")
}

/// The scheme of `text` if it starts like a URL (`scheme://`, the scheme as RFC 3986 spells
/// one), else `None`: the text is then read as `key=value` pairs.
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// Checks a URL whose scheme is `scheme`; returns the ranges of its passwords.
fn url_secrets(text: &str, scheme: &str) -> Result<Vec<Range<usize>>, String> {
    let bad = |why: &str| format!("the PostgreSQL URL {why}");
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(bad(&format!("has the scheme {scheme:?}; use postgres:// or postgresql://")));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "contains whitespace or control characters; percent-encode them (%20 is a space)",
        ));
    }
    let start = scheme.len() + "://".len();
    let rest = &text[start..];
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let mut secrets = Vec::new();
    // The last `@` ends the user information here; drivers end it at the first `@` or `/`, so
    // either one unencoded in it would be read differently, and is refused.
    let hosts_at = match before_query.rfind('@') {
        Some(at) => {
            if before_query[..at].contains(['@', '/']) {
                return Err(bad(
                    "has an @ or / in its user or password; percent-encode it (%40, %2F)",
                ));
            }
            if let Some(colon) = before_query[..at].find(':')
                && colon + 1 < at
            {
                secrets.push(start + colon + 1..start + at);
            }
            at + 1
        }
        None => 0,
    };
    let after_user = &before_query[hosts_at..];
    let hosts = after_user.split_once('/').map_or(after_user, |(hosts, _dbname)| hosts);
    if !hosts.is_empty() {
        for host in hosts.split(',') {
            url_host(host).map_err(bad)?;
        }
    }
    if let Some(query) = query {
        let query_start = start + before_query.len() + 1;
        let mut at = query_start;
        for param in query.split('&') {
            let Some((key, _)) = param.split_once('=').filter(|(key, _)| !key.is_empty()) else {
                return Err(bad("has a query parameter that is not key=value"));
            };
            if names_a_secret(key) && param.len() > key.len() + 1 {
                secrets.push(at + key.len() + 1..at + param.len());
            }
            at += param.len() + 1;
        }
    }
    Ok(secrets)
}

/// Checks one entry of a URL's host list: `host`, `host:port`, `[ipv6]` or `[ipv6]:port`.
fn url_host(entry: &str) -> Result<(), &'static str> {
    let port = if let Some(bracketed) = entry.strip_prefix('[') {
        let (_, after) =
            bracketed.split_once(']').ok_or("has an IPv6 host without its closing ]")?;
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("has text after an IPv6 host's ]")?),
        }
    } else {
        match entry.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err("has an IPv6 host outside brackets; write it as [::1]:5432");
            }
            Some(("", _)) => return Err("has a port without a host"),
            Some((_, port)) => Some(port),
            None if entry.is_empty() => return Err("has an empty entry in its host list"),
            None => None,
        }
    };
    match port.map(str::parse::<u16>) {
        None | Some(Ok(1..)) => Ok(()),
        Some(_) => Err("has a port that is not a number from 1 to 65535"),
    }
}

/// Checks `key=value` pairs; returns the ranges of the values of keywords naming a password.
fn conninfo_secrets(text: &str) -> Result<Vec<Range<usize>>, String> {
    let mut secrets = Vec::new();
    let mut pairs = Conninfo { text, at: 0 };
    let mut n = 0;
    while let Some(pair) = pairs.next_pair(n + 1) {
        let (key, value) = pair?;
        n += 1;
        if names_a_secret(key) && !value.is_empty() {
            secrets.push(value);
        }
    }
    Ok(secrets)
}

/// A reader of `key=value` pairs, `at` bytes into `text`.
struct Conninfo<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Conninfo<'a> {
    /// The next pair, the `n`th: its keyword and the byte range of its value (inside the quotes
    /// of a quoted one); `None` at the end.
    fn next_pair(&mut self, n: usize) -> Option<Result<(&'a str, Range<usize>), String>> {
        self.skip_whitespace();
        if self.at == self.text.len() {
            return None;
        }
        let text = self.text;
        let key_start = self.at;
        self.advance_while(|c| !c.is_whitespace() && c != '=');
        let key = &text[key_start..self.at];
        self.skip_whitespace();
        if !self.text[self.at..].starts_with('=') {
            return Some(Err(if n == 1 {
                "the PostgreSQL connection string is neither a postgres:// or postgresql:// URL \
                 nor key=value pairs (e.g. host=localhost dbname=natsapi)"
                    .to_owned()
            } else {
                format!("the PostgreSQL connection string's word {n} is not key=value")
            }));
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Some(Err(format!(
                "the PostgreSQL connection string's pair {n} has no keyword \
                 (letters, digits and _) before its ="
            )));
        }
        self.at += 1;
        self.skip_whitespace();
        Some(self.value(key).map(|value| (key, value)))
    }

    /// The value of `key` starting at `at`, quoted or not.
    fn value(&mut self, key: &str) -> Result<Range<usize>, String> {
        let quoted = self.text[self.at..].starts_with('\'');
        if quoted {
            self.at += 1;
        }
        let start = self.at;
        let mut chars = self.text[start..].char_indices();
        while let Some((i, c)) = chars.next() {
            let end = start + i;
            match c {
                '\\' => {
                    chars.next();
                }
                '\'' if quoted => {
                    self.at = end + 1;
                    return Ok(start..end);
                }
                c if c.is_whitespace() && !quoted => {
                    self.at = end;
                    return Ok(start..end);
                }
                _ => {}
            }
        }
        self.at = self.text.len();
        if quoted {
            return Err(format!(
                "the PostgreSQL connection string's quoted value of {key:?} has no closing '"
            ));
        }
        if start == self.at {
            return Err(format!(
                "the PostgreSQL connection string's {key:?} has no value (write {key}='' \
                 for an empty one)"
            ));
        }
        Ok(start..self.at)
    }

    fn skip_whitespace(&mut self) {
        self.advance_while(char::is_whitespace);
    }

    fn advance_while(&mut self, keep: impl Fn(char) -> bool) {
        let rest = &self.text[self.at..];
        self.at += rest.find(|c| !keep(c)).unwrap_or(rest.len());
    }
}

/// Clap's value parser for `--store-postgres-url`: like a plain function parser, but its error
/// names the flag without quoting the value, which may hold a password.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PostgresUrlParser;

impl TypedValueParser for PostgresUrlParser {
    type Value = PostgresUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<PostgresUrl, clap::Error> {
        let parsed = value
            .to_str()
            .ok_or_else(|| "the PostgreSQL connection string is not valid UTF-8".to_owned())
            .and_then(PostgresUrl::parse);
        parsed.map_err(|message| crate::parse::invalid_value(cmd, arg, &message))
    }
}

#[cfg(test)]
mod tests;
