//! How natsapi authenticates to NATS and secures the connection: the `--api-nats-credentials`,
//! `--api-nats-nkey`, `--api-nats-token[-file]` and `--api-nats-tls-*` flags, their `NATSAPI_*`
//! variables and the YAML keys under `api.subsystems.nats`.
//!
//! The flags are one struct, [`ConnectArgs`], flattened into every command that connects to NATS
//! (`serve`, `dev`, `ingest`, `worker`, `req`, `bench`), so they are spelt and checked the same
//! everywhere. The settings they fill are `natsapi_client::ConnectionSettings`, the type every
//! connection is built from; this module only reads them and says which option is wrong.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::builder::BoolishValueParser;
use natsapi_client::{ConnectionSettings, SettingsError, Token};
use serde::{Deserialize, Deserializer};

use crate::{ConfigError, parse};

/// The NATS connection flags (and their `NATSAPI_*` environment variables).
///
/// Each file is read and checked while the flag is parsed, so a missing or malformed file is
/// reported with the flag's name. Whether the options go together (a certificate and its key; one
/// way to authenticate) is checked once they are merged with the configuration file (see
/// [`crate::load`], or [`ConnectArgs::settings`] for commands without one).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ConnectArgs {
    /// NATS credentials file (.creds: a user JWT and its NKey seed) [default: none]
    #[arg(long, env = "NATSAPI_API_NATS_CREDENTIALS", value_name = "FILE", value_parser = parse::credentials_file)]
    pub api_nats_credentials: Option<PathBuf>,

    /// File holding the NKey seed (SU...) of a NATS user listed by its public key [default: none]
    #[arg(long, env = "NATSAPI_API_NATS_NKEY", value_name = "FILE", value_parser = parse::nkey_file)]
    pub api_nats_nkey: Option<PathBuf>,

    /// NATS authentication token; the variable or --api-nats-token-file keep it out of the process list [default: none]
    #[arg(
        long,
        env = "NATSAPI_API_NATS_TOKEN",
        value_name = "TOKEN",
        value_parser = parse::token,
        conflicts_with = "api_nats_token_file",
        hide_env_values = true
    )]
    pub api_nats_token: Option<Token>,

    /// File whose content is the NATS authentication token [default: none]
    #[arg(long, env = "NATSAPI_API_NATS_TOKEN_FILE", value_name = "FILE", value_parser = parse::token_file)]
    pub api_nats_token_file: Option<Token>,

    /// PEM file of the certificate authorities that sign the NATS server's certificate; requires TLS [default: the system's roots]
    #[arg(long, env = "NATSAPI_API_NATS_TLS_CA", value_name = "FILE", value_parser = parse::certificate_file)]
    pub api_nats_tls_ca: Option<PathBuf>,

    /// PEM file of the client certificate, for NATS servers that verify clients (with --api-nats-tls-key) [default: none]
    #[arg(long, env = "NATSAPI_API_NATS_TLS_CERT", value_name = "FILE", value_parser = parse::certificate_file)]
    pub api_nats_tls_cert: Option<PathBuf>,

    /// PEM file of the client certificate's private key [default: none]
    #[arg(long, env = "NATSAPI_API_NATS_TLS_KEY", value_name = "FILE", value_parser = parse::private_key_file)]
    pub api_nats_tls_key: Option<PathBuf>,

    /// Start TLS before the NATS server's first message (servers with handshake_first: true) [default: false]
    #[arg(
        long,
        env = "NATSAPI_API_NATS_TLS_FIRST",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub api_nats_tls_first: Option<bool>,
}

impl ConnectArgs {
    /// The connection settings these flags alone describe for a connection to `addr`, for
    /// commands without a configuration file (`natsapi req`, `natsapi bench`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the flag of a bad value, or the flags that do not go together.
    pub fn settings(&self, addr: &str) -> Result<ConnectionSettings, ConfigError> {
        let mut settings = ConnectionSettings::default();
        self.apply(&mut settings)?;
        check(&settings, addr)?;
        Ok(settings)
    }

    /// Overwrites the settings these flags give. Clap has checked the files; they are checked
    /// again for arguments built by hand, with the same messages.
    pub(crate) fn apply(&self, c: &mut ConnectionSettings) -> Result<(), ConfigError> {
        let file = |check: fn(&Path) -> Result<(), SettingsError>| {
            move |path: &Path| {
                check(path).map(|()| Some(path.to_owned())).map_err(|e| e.to_string())
            }
        };
        use natsapi_client::connection as files;
        let credentials = self.api_nats_credentials.as_deref();
        let id = "api_nats_credentials";
        crate::load::check(
            &mut c.credentials,
            credentials,
            id,
            file(files::check_credentials_file),
        )?;
        let nkey_file = |path: &Path| files::read_nkey_seed(path).map(drop);
        let nkey = self.api_nats_nkey.as_deref();
        crate::load::check(&mut c.nkey, nkey, "api_nats_nkey", file(nkey_file))?;
        if let Some(token) = self.api_nats_token.as_ref().or(self.api_nats_token_file.as_ref()) {
            if self.api_nats_token.is_some() && self.api_nats_token_file.is_some() {
                return Err(ConfigError::Conflict {
                    message: "set --api-nats-token or --api-nats-token-file, not both".into(),
                });
            }
            c.token = Some(token.clone());
        }
        let t = &mut c.tls;
        let ca = self.api_nats_tls_ca.as_deref();
        crate::load::check(&mut t.ca, ca, "api_nats_tls_ca", file(files::check_certificates))?;
        let cert = self.api_nats_tls_cert.as_deref();
        crate::load::check(
            &mut t.cert,
            cert,
            "api_nats_tls_cert",
            file(files::check_certificates),
        )?;
        let key = self.api_nats_tls_key.as_deref();
        crate::load::check(&mut t.key, key, "api_nats_tls_key", file(files::check_private_key))?;
        if let Some(first) = self.api_nats_tls_first {
            t.first = first;
        }
        Ok(())
    }
}

/// YAML `api.subsystems.nats.tls`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTls {
    #[serde(default, deserialize_with = "certificate_file")]
    pub ca: Option<PathBuf>,
    #[serde(default, deserialize_with = "certificate_file")]
    pub cert: Option<PathBuf>,
    #[serde(default, deserialize_with = "private_key_file")]
    pub key: Option<PathBuf>,
    pub first: Option<bool>,
}

fn certificate_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    crate::file::with(d, parse::certificate_file)
}
fn private_key_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    crate::file::with(d, parse::private_key_file)
}

/// The connection keys of `api.subsystems.nats` in the file, each already checked.
pub(crate) struct FileConnection {
    pub credentials: Option<PathBuf>,
    pub nkey: Option<PathBuf>,
    pub token: Option<Token>,
    pub token_file: Option<Token>,
    pub tls: Option<FileTls>,
}

impl FileConnection {
    /// Overwrites the settings the file gives; `path` names the file in errors.
    pub(crate) fn apply(self, c: &mut ConnectionSettings, path: &Path) -> Result<(), ConfigError> {
        fn set<T>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        set(&mut c.credentials, self.credentials);
        set(&mut c.nkey, self.nkey);
        if self.token.is_some() && self.token_file.is_some() {
            return Err(ConfigError::FileValue {
                file: path.to_owned(),
                key: "api.subsystems.nats.tokenFile".into(),
                line: None,
                column: None,
                message: "set token or tokenFile, not both".into(),
            });
        }
        set(&mut c.token, self.token.or(self.token_file));
        let tls = self.tls.unwrap_or_default();
        set(&mut c.tls.ca, tls.ca);
        set(&mut c.tls.cert, tls.cert);
        set(&mut c.tls.key, tls.key);
        if let Some(first) = tls.first {
            c.tls.first = first;
        }
        Ok(())
    }
}

/// The YAML key and flag of each setting, as errors name them.
const CREDENTIALS: &str = "api.subsystems.nats.credentials (--api-nats-credentials)";
const NKEY: &str = "api.subsystems.nats.nkey (--api-nats-nkey)";
const TOKEN: &str =
    "api.subsystems.nats.token or tokenFile (--api-nats-token or --api-nats-token-file)";
const URL: &str = "a user or token in api.subsystems.nats.addr (--api-nats-addr)";
const TLS_CERT: &str = "api.subsystems.nats.tls.cert (--api-nats-tls-cert)";
const TLS_KEY: &str = "api.subsystems.nats.tls.key (--api-nats-tls-key)";

/// Checks that the merged settings go together for a connection to `addr`, naming the keys and
/// flags that do not.
///
/// # Errors
/// [`ConfigError::Conflict`].
pub(crate) fn check(c: &ConnectionSettings, addr: &str) -> Result<(), ConfigError> {
    let message = match c.check(addr) {
        Ok(()) => return Ok(()),
        Err(SettingsError::CertWithoutKey) => {
            format!("{TLS_CERT} is set without {TLS_KEY}: a client certificate needs its key")
        }
        Err(SettingsError::KeyWithoutCert) => {
            format!("{TLS_KEY} is set without {TLS_CERT}: a client key needs its certificate")
        }
        Err(SettingsError::SeveralMethods) => {
            let set = [
                (c.credentials.is_some(), CREDENTIALS),
                (c.nkey.is_some(), NKEY),
                (c.token.is_some(), TOKEN),
                (natsapi_client::connection::has_url_credentials(addr), URL),
            ];
            let names: Vec<&str> =
                set.iter().filter(|(on, _)| *on).map(|(_, name)| *name).collect();
            format!(
                "set only one way to authenticate to NATS; these are all set: {}",
                names.join(", ")
            )
        }
        Err(other) => other.to_string(),
    };
    Err(ConfigError::Conflict { message })
}

/// The `NATSAPI_*` variables of the connection settings, in the order of [`child_env`].
pub const CONNECTION_ENV: [&str; 8] = [
    "NATSAPI_API_NATS_CREDENTIALS",
    "NATSAPI_API_NATS_NKEY",
    "NATSAPI_API_NATS_TOKEN",
    "NATSAPI_API_NATS_TOKEN_FILE",
    "NATSAPI_API_NATS_TLS_CA",
    "NATSAPI_API_NATS_TLS_CERT",
    "NATSAPI_API_NATS_TLS_KEY",
    "NATSAPI_API_NATS_TLS_FIRST",
];

/// The environment that gives a child `natsapi` process the same connection settings (the
/// token too, which never goes on a command line). Remove every name of [`CONNECTION_ENV`] from
/// the child's environment first, so that an inherited variable adds nothing.
pub fn child_env(c: &ConnectionSettings) -> Vec<(&'static str, OsString)> {
    let [credentials, nkey, token, _token_file, ca, cert, key, first] = CONNECTION_ENV;
    let mut env = Vec::new();
    let mut path = |name, value: &Option<PathBuf>| {
        if let Some(value) = value {
            env.push((name, value.clone().into_os_string()));
        }
    };
    path(credentials, &c.credentials);
    path(nkey, &c.nkey);
    path(ca, &c.tls.ca);
    path(cert, &c.tls.cert);
    path(key, &c.tls.key);
    if let Some(value) = &c.token {
        env.push((token, value.expose().into()));
    }
    if c.tls.first {
        env.push((first, "true".into()));
    }
    env
}

#[cfg(test)]
mod tests;
