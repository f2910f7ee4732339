//! How every natsapi process connects to NATS: the API server, task delivery, the ingest gateway
//! and worker, `natsapi req` and `natsapi bench` all turn the same [`ConnectionSettings`] into
//! `async_nats::ConnectOptions` with [`ConnectionSettings::connect_options`], so an option works
//! the same everywhere and is read in one place.
//!
//! It lives in the client crate because this is the lowest crate that speaks NATS and that every
//! one of those users already depends on: the configuration crate fills these settings from flags,
//! environment variables and YAML, and the server and the CLI hand them over unchanged.
//!
//! User and password need no setting of their own: they go in the URL (`nats://user:pass@host`,
//! or `nats://token@host`), which async-nats itself does not read, so the options carry them.
//! The files named here are read and checked when the options are built (and by the configuration
//! crate when it loads them), so a missing or unreadable file is an error before any connection
//! attempt, not an obscure handshake failure.

use std::fmt;
use std::path::{Path, PathBuf};

use async_nats::rustls::pki_types::pem::PemObject;
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Authentication and TLS options of a NATS connection; the default is none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// A `.creds` file: a user JWT and its NKey seed (NATS decentralized authentication).
    pub credentials: Option<PathBuf>,
    /// A file holding a user NKey seed (`SU...`), for servers that list the user's public NKey.
    pub nkey: Option<PathBuf>,
    /// A token the server's `authorization { token: ... }` expects.
    pub token: Option<Token>,
    /// TLS options.
    pub tls: TlsSettings,
}

/// TLS options of a NATS connection. Setting any of them requires TLS: the connection fails
/// rather than fall back to plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the certificate authorities that sign the server's certificate (instead of
    /// the system's roots).
    pub ca: Option<PathBuf>,
    /// PEM file of the client certificate, for servers that verify clients (mutual TLS).
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key: Option<PathBuf>,
    /// Start TLS before the server's first message, for servers with `handshake_first: true`.
    pub first: bool,
}

impl TlsSettings {
    /// Whether any TLS option is set.
    pub fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some() || self.first
    }
}

/// A secret token; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token; surrounding whitespace (such as a file's final newline) is removed.
    ///
    /// # Errors
    /// [`SettingsError::EmptyToken`] when nothing is left.
    pub fn new(token: &str) -> Result<Token, SettingsError> {
        let token = token.trim();
        if token.is_empty() { Err(SettingsError::EmptyToken) } else { Ok(Token(token.to_owned())) }
    }

    /// Reads a token from a file (its only content, surrounding whitespace removed).
    ///
    /// # Errors
    /// When the file cannot be read or holds nothing.
    pub fn from_file(path: &Path) -> Result<Token, SettingsError> {
        let text = read_text(path)?;
        Token::new(&text).map_err(|_| SettingsError::Invalid {
            path: path.to_owned(),
            what: "a token file",
            reason: "it is empty".to_owned(),
        })
    }

    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Why connection settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{} is not {what}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it should be, e.g. `a NATS credentials file`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A token is empty.
    #[error("the token is empty")]
    EmptyToken,
    /// A client certificate is given without its key.
    #[error("a TLS client certificate needs its private key (the TLS key setting)")]
    CertWithoutKey,
    /// A client key is given without its certificate.
    #[error("a TLS client key needs its certificate (the TLS cert setting)")]
    KeyWithoutCert,
    /// More than one of credentials, NKey, token and a user or token in the URL is set.
    #[error(
        "set only one way to authenticate: credentials file, NKey seed, token, or a user or \
         token in the URL"
    )]
    SeveralMethods,
}

impl ConnectionSettings {
    /// Checks that the settings go together for a connection to `addr`: a client certificate and
    /// its key come as a pair, and at most one of credentials, NKey, token and a user or token
    /// in `addr` is set.
    ///
    /// # Errors
    /// [`SettingsError::CertWithoutKey`], [`SettingsError::KeyWithoutCert`] or
    /// [`SettingsError::SeveralMethods`].
    pub fn check(&self, addr: &str) -> Result<(), SettingsError> {
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) => return Err(SettingsError::CertWithoutKey),
            (None, Some(_)) => return Err(SettingsError::KeyWithoutCert),
            _ => {}
        }
        let methods = [
            self.credentials.is_some(),
            self.nkey.is_some(),
            self.token.is_some(),
            url_auth(addr).is_some(),
        ];
        if methods.iter().filter(|set| **set).count() > 1 {
            return Err(SettingsError::SeveralMethods);
        }
        Ok(())
    }

    /// The `async_nats::ConnectOptions` these settings describe for a connection to `addr`,
    /// with their files read and checked, and the user and password (or token) written in
    /// `addr`; callers add their own name, callbacks and timeouts.
    ///
    /// # Errors
    /// Any of [`check`](Self::check), or a file that cannot be read or does not hold what it
    /// should.
    pub fn connect_options(&self, addr: &str) -> Result<async_nats::ConnectOptions, SettingsError> {
        self.check(addr)?;
        let mut options = async_nats::ConnectOptions::new();
        match url_auth(addr) {
            Some(UrlAuth::UserPassword(user, password)) => {
                options = options.user_and_password(user, password);
            }
            Some(UrlAuth::Token(token)) => options = options.token(token),
            None => {}
        }
        if let Some(path) = &self.credentials {
            options = with_credentials(options, path)?;
        }
        if let Some(path) = &self.nkey {
            options = options.nkey(read_nkey_seed(path)?);
        }
        if let Some(token) = &self.token {
            options = options.token(token.expose().to_owned());
        }
        let tls = &self.tls;
        if let Some(ca) = &tls.ca {
            check_certificates(ca)?;
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
            check_certificates(cert)?;
            check_private_key(key)?;
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        if tls.first {
            options = options.tls_first();
        }
        Ok(options.require_tls(tls.any()))
    }
}

fn read_text(path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path)
        .map_err(|source| SettingsError::Read { path: path.to_owned(), source })
}

fn with_credentials(
    options: async_nats::ConnectOptions,
    path: &Path,
) -> Result<async_nats::ConnectOptions, SettingsError> {
    let text = read_text(path)?;
    options.credentials(&text).map_err(|e| SettingsError::Invalid {
        path: path.to_owned(),
        what: "a NATS credentials file",
        reason: e.to_string(),
    })
}

/// Checks that `path` is a NATS credentials (`.creds`) file: a user JWT and an NKey seed.
///
/// # Errors
/// When it cannot be read or parsed.
pub fn check_credentials_file(path: &Path) -> Result<(), SettingsError> {
    with_credentials(async_nats::ConnectOptions::new(), path).map(drop)
}

/// The NKey seed in the file at `path`: the first line that is a valid seed (a file holding only
/// the seed, as `nk -gen user` writes it, or a decorated one with the seed between marker lines).
///
/// # Errors
/// When the file cannot be read or holds no valid seed.
pub fn read_nkey_seed(path: &Path) -> Result<String, SettingsError> {
    let text = read_text(path)?;
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with('S') && nkeys::KeyPair::from_seed(line).is_ok())
        .map(str::to_owned)
        .ok_or_else(|| SettingsError::Invalid {
            path: path.to_owned(),
            what: "an NKey seed file",
            reason: "no line holds a valid NKey seed (SU...)".to_owned(),
        })
}

/// Checks that `path` is a PEM file with at least one certificate.
///
/// # Errors
/// When it cannot be read or holds no certificate.
pub fn check_certificates(path: &Path) -> Result<(), SettingsError> {
    let bytes = std::fs::read(path)
        .map_err(|source| SettingsError::Read { path: path.to_owned(), source })?;
    let invalid = |reason: String| SettingsError::Invalid {
        path: path.to_owned(),
        what: "a PEM certificate file",
        reason,
    };
    let mut found = false;
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        certificate.map_err(|e| invalid(e.to_string()))?;
        found = true;
    }
    if found { Ok(()) } else { Err(invalid("it holds no CERTIFICATE section".to_owned())) }
}

/// Checks that `path` is a PEM file with a private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// When it cannot be read or holds no private key.
pub fn check_private_key(path: &Path) -> Result<(), SettingsError> {
    let bytes = std::fs::read(path)
        .map_err(|source| SettingsError::Read { path: path.to_owned(), source })?;
    PrivateKeyDer::from_pem_slice(&bytes).map(drop).map_err(|e| SettingsError::Invalid {
        path: path.to_owned(),
        what: "a PEM private key file",
        reason: e.to_string(),
    })
}

/// A user and password, or a token, written in a NATS address.
#[derive(Debug, PartialEq, Eq)]
enum UrlAuth {
    /// `nats://user:password@host`.
    UserPassword(String, String),
    /// `nats://token@host`.
    Token(String),
}

/// The credentials written in `addr` (one NATS URL or a comma-separated list): those of the
/// first server that has any, percent-decoded.
fn url_auth(addr: &str) -> Option<UrlAuth> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    addr.split(',').find_map(|server| {
        let server: async_nats::ServerAddr = server.trim().parse().ok()?;
        let user = decode(server.username()?);
        Some(match server.password() {
            Some(password) => UrlAuth::UserPassword(user, decode(password)),
            None => UrlAuth::Token(user),
        })
    })
}

/// Whether `addr` (one NATS URL or a comma-separated list) carries a user or a token.
pub fn has_url_credentials(addr: &str) -> bool {
    url_auth(addr).is_some()
}

/// `addr` (one NATS URL or a comma-separated list) with each server's password or token replaced
/// by `***`, for error messages and logs: `nats://app:secret@host` shows as `nats://app:***@host`.
pub fn redact_addr(addr: &str) -> String {
    addr.split(',').map(redact_server).collect::<Vec<_>>().join(",")
}

fn redact_server(server: &str) -> String {
    let (scheme, rest) = match server.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, server),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return server.to_owned();
    };
    let user_info = match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    let scheme = scheme.map(|s| format!("{s}://")).unwrap_or_default();
    format!("{scheme}{user_info}@{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens_are_redacted() {
        assert_eq!(redact_addr("nats://app:secret@host:4222"), "nats://app:***@host:4222");
        assert_eq!(redact_addr("nats://s3cr3t@host"), "nats://***@host");
        assert_eq!(redact_addr("app:pw@host:4222"), "app:***@host:4222");
        assert_eq!(redact_addr("wss://u:p@host/path@x"), "wss://u:***@host/path@x");
        assert_eq!(
            redact_addr("nats://a:1@h1:4222,nats://h2:4222"),
            "nats://a:***@h1:4222,nats://h2:4222"
        );
        assert_eq!(redact_addr("nats://localhost:4222"), "nats://localhost:4222");
    }

    #[test]
    fn a_token_is_never_printed() {
        let token = Token::new(" s3cr3t\n").unwrap();
        assert_eq!(token.expose(), "s3cr3t");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        let settings = ConnectionSettings { token: Some(token), ..Default::default() };
        assert!(!format!("{settings:?}").contains("s3cr3t"));
        assert!(matches!(Token::new("  \n"), Err(SettingsError::EmptyToken)));
    }

    #[test]
    fn settings_that_do_not_go_together_are_refused() {
        let path = || Some(PathBuf::from("x"));
        let cert_only = ConnectionSettings {
            tls: TlsSettings { cert: path(), ..Default::default() },
            ..Default::default()
        };
        assert!(matches!(cert_only.check(""), Err(SettingsError::CertWithoutKey)));
        let key_only = ConnectionSettings {
            tls: TlsSettings { key: path(), ..Default::default() },
            ..Default::default()
        };
        assert!(matches!(key_only.check(""), Err(SettingsError::KeyWithoutCert)));
        let two = ConnectionSettings { credentials: path(), nkey: path(), ..Default::default() };
        assert!(matches!(two.check(""), Err(SettingsError::SeveralMethods)));
        let nkey = ConnectionSettings { nkey: path(), ..Default::default() };
        assert!(nkey.check("nats://h:4222").is_ok());
        assert!(matches!(nkey.check("nats://u:p@h:4222"), Err(SettingsError::SeveralMethods)));
        assert!(ConnectionSettings::default().check("nats://u:p@h:4222").is_ok());
    }

    #[test]
    fn users_passwords_and_tokens_are_read_from_the_url() {
        let user = |u: &str, p: &str| Some(UrlAuth::UserPassword(u.into(), p.into()));
        assert_eq!(url_auth("nats://app:pw@h:4222"), user("app", "pw"));
        assert_eq!(url_auth("app:pw@h"), user("app", "pw"));
        assert_eq!(url_auth("tls://a%40b:p%3Aw%40@h"), user("a@b", "p:w@"));
        assert_eq!(url_auth("nats://h1:4222, nats://app:pw@h2"), user("app", "pw"));
        assert_eq!(url_auth("nats://s3cr3t@h"), Some(UrlAuth::Token("s3cr3t".into())));
        assert_eq!(url_auth("nats://h:4222"), None);
        assert_eq!(url_auth("not a url"), None);
    }

    #[test]
    fn files_are_checked_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.creds");
        let settings = ConnectionSettings { credentials: Some(missing), ..Default::default() };
        let err = settings.connect_options("nats://h").unwrap_err().to_string();
        assert!(err.starts_with("cannot read ") && err.contains("missing.creds"), "{err}");

        let garbage = dir.path().join("garbage");
        std::fs::write(&garbage, "not a key\n").unwrap();
        let err = check_credentials_file(&garbage).unwrap_err().to_string();
        assert!(err.contains("is not a NATS credentials file"), "{err}");
        let err = read_nkey_seed(&garbage).unwrap_err().to_string();
        assert!(err.contains("is not an NKey seed file"), "{err}");
        let err = check_certificates(&garbage).unwrap_err().to_string();
        assert!(err.contains("no CERTIFICATE section"), "{err}");
        let err = check_private_key(&garbage).unwrap_err().to_string();
        assert!(err.contains("is not a PEM private key file"), "{err}");

        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        let seed_file = dir.path().join("user.nk");
        std::fs::write(
            &seed_file,
            format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"),
        )
        .unwrap();
        assert_eq!(read_nkey_seed(&seed_file).unwrap(), seed);
    }
}
