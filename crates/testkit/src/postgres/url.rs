//! PostgreSQL connection URLs: parsed by the driver's own parser, written back as `postgres://`.
//!
//! A test database lives on the same server, as the same role, as the admin URL that created it;
//! only the database name differs. Splicing the name into the URL text would break on the forms
//! libpq accepts (`key=value` strings, percent-encoded socket directories, several hosts), so the
//! text is parsed with [`postgres::Config`] and a fresh `postgres://` URL is written from the
//! parsed fields. That URL is what other clients get (psql, Python, the natsapi binary), so it
//! uses only the common URL syntax: percent-encoded user, password, host and database, and the
//! query parameters `hostaddr`, `sslmode`, `connect_timeout`, `application_name` and `options`.

use std::fmt;
use std::os::unix::ffi::OsStrExt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};
use postgres::config::{Host, SslMode};

use crate::TestkitError;

/// Everything but RFC 3986's unreserved characters is percent-encoded in every component.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A parsed PostgreSQL connection target (a `postgres://` URL or a libpq `key=value` string).
///
/// Its [`Display`](fmt::Display) hides the password; [`url`](Self::url) has it.
#[derive(Clone)]
pub struct PostgresUrl {
    config: postgres::Config,
}

impl PostgresUrl {
    /// Parses `text` with the driver's parser. `what` names where the text came from (an
    /// environment variable, an argument) for the error message, which never repeats the text
    /// itself (it may hold a password).
    pub fn parse(text: &str, what: &str) -> Result<Self, TestkitError> {
        let config = text
            .parse::<postgres::Config>()
            .map_err(|source| TestkitError::PostgresUrl { what: what.to_owned(), source })?;
        Ok(Self { config })
    }

    /// The same server, role and parameters with another database name.
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut config = self.config.clone();
        config.dbname(dbname);
        Self { config }
    }

    /// The same URL with the server-side session `options` (e.g. `-c search_path=s1`).
    pub fn with_options(&self, options: &str) -> Self {
        let mut config = self.config.clone();
        config.options(options);
        Self { config }
    }

    /// The database name, when the URL names one.
    pub fn dbname(&self) -> Option<&str> {
        self.config.get_dbname()
    }

    /// The parsed configuration, to connect with the `postgres` crate.
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// The `postgres://` URL, password included.
    pub fn url(&self) -> String {
        self.render(true)
    }

    fn render(&self, with_password: bool) -> String {
        let c = &self.config;
        let mut out = String::from("postgres://");
        if let Some(user) = c.get_user() {
            out.push_str(&encode(user.as_bytes()));
            if let Some(password) = c.get_password() {
                out.push(':');
                out.push_str(&if with_password { encode(password) } else { "***".to_owned() });
            }
            out.push('@');
        }
        let ports = c.get_ports();
        let hosts = c.get_hosts();
        // One port for several hosts applies to all of them (as in libpq).
        let port_of = |i: usize| ports.get(i).or_else(|| (ports.len() == 1).then(|| &ports[0]));
        let host_parts: Vec<String> = if hosts.is_empty() {
            // Only `hostaddr` given: the addresses stand in for the host names.
            c.get_hostaddrs().iter().map(|addr| render_host(&Host::Tcp(addr.to_string()))).collect()
        } else {
            hosts.iter().map(render_host).collect()
        };
        let authority: Vec<String> = host_parts
            .into_iter()
            .enumerate()
            .map(|(i, host)| match port_of(i) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
            .collect();
        out.push_str(&authority.join(","));
        out.push('/');
        if let Some(dbname) = c.get_dbname() {
            out.push_str(&encode(dbname.as_bytes()));
        }
        let params = self.query_params();
        if !params.is_empty() {
            out.push('?');
            let pairs: Vec<String> =
                params.iter().map(|(k, v)| format!("{k}={}", encode(v.as_bytes()))).collect();
            out.push_str(&pairs.join("&"));
        }
        out
    }

    fn query_params(&self) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let mut params = Vec::new();
        let hostaddrs: Vec<String> = c.get_hostaddrs().iter().map(|a| a.to_string()).collect();
        // Without host names the addresses are written as the hosts (see `render`).
        if !hostaddrs.is_empty() && !c.get_hosts().is_empty() {
            params.push(("hostaddr", hostaddrs.join(",")));
        }
        // `prefer` is the default on both sides; the enum is non-exhaustive, and a mode this
        // code does not know cannot be written back.
        match c.get_ssl_mode() {
            SslMode::Disable => params.push(("sslmode", "disable".to_owned())),
            SslMode::Require => params.push(("sslmode", "require".to_owned())),
            _ => {}
        }
        if let Some(timeout) = c.get_connect_timeout() {
            params.push(("connect_timeout", timeout.as_secs().max(1).to_string()));
        }
        if let Some(name) = c.get_application_name() {
            params.push(("application_name", name.to_owned()));
        }
        if let Some(options) = c.get_options() {
            params.push(("options", options.to_owned()));
        }
        params
    }
}

impl From<postgres::Config> for PostgresUrl {
    /// A target built field by field (e.g. another role on the same server).
    fn from(config: postgres::Config) -> Self {
        Self { config }
    }
}

impl fmt::Display for PostgresUrl {
    /// The URL with the password replaced by `***`, for messages and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl").field(&self.render(false)).finish()
    }
}

fn render_host(host: &Host) -> String {
    match host {
        // An IPv6 address goes in brackets, unencoded, as URLs write it.
        Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
        Host::Tcp(name) => encode(name.as_bytes()),
        // A socket directory: `/` encoded as %2F, which libpq and the driver decode.
        Host::Unix(path) => encode(path.as_os_str().as_bytes()),
    }
}

fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    fn parse(text: &str) -> PostgresUrl {
        PostgresUrl::parse(text, "test").expect("valid URL")
    }

    #[test]
    fn swaps_the_database_and_keeps_the_rest() {
        let admin = parse("postgres://ad%40min:p%40ss%2Fw:rd@db.example:6543/postgres");
        let url = admin.with_dbname("natsapi_test_1_2_ab").url();
        assert_eq!(url, "postgres://ad%40min:p%40ss%2Fw%3Ard@db.example:6543/natsapi_test_1_2_ab");
        let back = parse(&url);
        assert_eq!(back.config().get_user(), Some("ad@min"));
        assert_eq!(back.config().get_password(), Some(&b"p@ss/w:rd"[..]));
        assert_eq!(back.config().get_hosts(), &[Host::Tcp("db.example".to_owned())]);
        assert_eq!(back.config().get_ports(), &[6543]);
        assert_eq!(back.dbname(), Some("natsapi_test_1_2_ab"));
    }

    #[test]
    fn display_hides_the_password() {
        let admin = parse("postgresql://postgres:secret@127.0.0.1:5432/postgres");
        assert_eq!(admin.to_string(), "postgres://postgres:***@127.0.0.1:5432/postgres");
        assert!(!format!("{admin:?}").contains("secret"));
        assert!(admin.url().contains(":secret@"));
    }

    #[test]
    fn key_value_form_with_a_socket_directory() {
        let admin = parse("host='/tmp/pg sock' port=5433 user=postgres dbname=postgres");
        let url = admin.with_dbname("t").url();
        assert_eq!(url, "postgres://postgres@%2Ftmp%2Fpg%20sock:5433/t");
        let back = parse(&url);
        assert_eq!(back.config().get_hosts(), &[Host::Unix(Path::new("/tmp/pg sock").into())]);
        assert_eq!(back.config().get_ports(), &[5433]);
    }

    #[test]
    fn several_hosts_ipv6_and_parameters_survive() {
        let admin = parse(
            "postgres://u@[::1]:5433,h2:5434/db?sslmode=disable&connect_timeout=7\
             &application_name=natsapi%20tests&options=-c%20statement_timeout%3D5s",
        );
        let url = admin.url();
        assert_eq!(
            url,
            "postgres://u@[::1]:5433,h2:5434/db?sslmode=disable&connect_timeout=7\
             &application_name=natsapi%20tests&options=-c%20statement_timeout%3D5s"
        );
        let back = parse(&url);
        let c = back.config();
        assert_eq!(c.get_hosts(), &[Host::Tcp("::1".to_owned()), Host::Tcp("h2".to_owned())]);
        assert_eq!(c.get_ports(), &[5433, 5434]);
        assert!(matches!(c.get_ssl_mode(), SslMode::Disable));
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(c.get_application_name(), Some("natsapi tests"));
        assert_eq!(c.get_options(), Some("-c statement_timeout=5s"));
    }

    #[test]
    fn hostaddr_is_kept_beside_a_host_and_stands_in_for_a_missing_one() {
        let both = parse("host=db.example hostaddr=127.0.0.1 port=5439 user=postgres");
        assert_eq!(both.url(), "postgres://postgres@db.example:5439/?hostaddr=127.0.0.1");
        let back = parse(&both.url());
        assert_eq!(back.config().get_hosts(), &[Host::Tcp("db.example".to_owned())]);
        assert_eq!(back.config().get_hostaddrs(), &[IpAddr::from([127, 0, 0, 1])]);

        let only = parse("hostaddr=::1 port=5439 user=postgres dbname=d");
        assert_eq!(only.url(), "postgres://postgres@[::1]:5439/d");
    }

    #[test]
    fn an_invalid_url_names_its_origin_not_its_text() {
        let err = PostgresUrl::parse("postgres://u:hunter2@h:notaport/db", "THE_VARIABLE")
            .expect_err("bad port");
        let msg = err.to_string();
        assert!(msg.contains("THE_VARIABLE"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
