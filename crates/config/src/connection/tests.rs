//! The NATS connection settings: flags, YAML keys, precedence and the errors that name them. The
//! files are real files in a temporary directory; their content only needs the right shape here
//! (the TLS and credentials tests in `crates/cli/tests` use real certificates and JWTs).

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use natsapi_client::{ConnectionSettings, TlsSettings, Token};

use crate::{ConfigError, ConnectArgs, Mode, ServerArgs, load_from};

#[derive(Parser, Debug)]
#[command(name = "natsapi")]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

/// A command that takes only the connection flags, as `natsapi req` does.
#[derive(Parser, Debug)]
#[command(name = "natsapi-req")]
struct ReqCli {
    #[command(flatten)]
    connection: ConnectArgs,
}

fn parse(flags: &[&str]) -> Result<ServerArgs, String> {
    let argv = std::iter::once("natsapi").chain(flags.iter().copied());
    Cli::try_parse_from(argv).map(|cli| cli.args).map_err(|e| e.to_string())
}

fn load(flags: &[&str], yaml: Option<&str>) -> Result<ConnectionSettings, String> {
    let args = parse(flags)?;
    let yaml = yaml.map(|text| (Path::new("natsapi.yaml"), text));
    load_from(Mode::Serve, &args, yaml).map(|s| s.api.nats.connection).map_err(|e| e.to_string())
}

/// Files of every kind the settings name, with the shape their checks expect.
struct Files {
    _dir: tempfile::TempDir,
    creds: String,
    nkey: String,
    token: String,
    ca: String,
    cert: String,
    key: String,
    garbage: String,
    missing: String,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    let creds = write(
        "user.creds",
        &format!(
            "-----BEGIN NATS USER JWT-----\neyJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n\
             ------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{seed}\n\
             ------END USER NKEY SEED------\n"
        ),
    );
    let pem = |label: &str| format!("-----BEGIN {label}-----\nAAEC\n-----END {label}-----\n");
    Files {
        creds,
        nkey: write("user.nk", &format!("{seed}\n")),
        token: write("token", "s3cr3t-from-file\n"),
        ca: write("ca.pem", &pem("CERTIFICATE")),
        cert: write("client.pem", &pem("CERTIFICATE")),
        key: write("client-key.pem", &pem("PRIVATE KEY")),
        garbage: write("garbage", "not what it should be\n"),
        missing: dir.path().join("missing").to_str().unwrap().to_owned(),
        _dir: dir,
    }
}

fn token(text: &str) -> Option<Token> {
    Some(Token::new(text).unwrap())
}

#[test]
fn every_connection_flag_parses() {
    let f = files();
    let c = load(
        &[
            "--api-nats-credentials",
            &f.creds,
            "--api-nats-tls-ca",
            &f.ca,
            "--api-nats-tls-cert",
            &f.cert,
            "--api-nats-tls-key",
            &f.key,
            "--api-nats-tls-first",
        ],
        None,
    )
    .unwrap();
    assert_eq!(
        c,
        ConnectionSettings {
            credentials: Some(PathBuf::from(&f.creds)),
            nkey: None,
            token: None,
            tls: TlsSettings {
                ca: Some(PathBuf::from(&f.ca)),
                cert: Some(PathBuf::from(&f.cert)),
                key: Some(PathBuf::from(&f.key)),
                first: true,
            },
        }
    );
    let c = load(&["--api-nats-nkey", &f.nkey], None).unwrap();
    assert_eq!(c.nkey.as_deref(), Some(Path::new(&f.nkey)));
    let c = load(&["--api-nats-token", "s3cr3t"], None).unwrap();
    assert_eq!(c.token, token("s3cr3t"));
    let c = load(&["--api-nats-token-file", &f.token], None).unwrap();
    assert_eq!(c.token, token("s3cr3t-from-file"), "the file's newline is not part of it");
    let c = load(&["--api-nats-tls-first=false"], None).unwrap();
    assert_eq!(c, ConnectionSettings::default());
}

#[test]
fn every_connection_key_parses_and_flags_beat_the_file() {
    let f = files();
    let yaml = format!(
        "api:\n  subsystems:\n    nats:\n      credentials: {}\n      tls:\n        ca: {}\n\
         \x20       cert: {}\n        key: {}\n        first: true\n",
        f.creds, f.ca, f.cert, f.key
    );
    let c = load(&[], Some(&yaml)).unwrap();
    assert_eq!(c.credentials.as_deref(), Some(Path::new(&f.creds)));
    assert_eq!(c.tls.ca.as_deref(), Some(Path::new(&f.ca)));
    assert_eq!(c.tls.cert.as_deref(), Some(Path::new(&f.cert)));
    assert_eq!(c.tls.key.as_deref(), Some(Path::new(&f.key)));
    assert!(c.tls.first);

    // A flag replaces the file's value of the same setting and leaves the others.
    let c =
        load(&["--api-nats-tls-first=false", "--api-nats-tls-ca", &f.cert], Some(&yaml)).unwrap();
    assert!(!c.tls.first);
    assert_eq!(c.tls.ca.as_deref(), Some(Path::new(&f.cert)));
    assert_eq!(c.credentials.as_deref(), Some(Path::new(&f.creds)));

    let nkey = format!("api:\n  subsystems:\n    nats:\n      nkey: {}\n", f.nkey);
    assert_eq!(load(&[], Some(&nkey)).unwrap().nkey.as_deref(), Some(Path::new(&f.nkey)));
    let yaml = "api:\n  subsystems:\n    nats:\n      token: \"s3cr3t\"\n";
    assert_eq!(load(&[], Some(yaml)).unwrap().token, token("s3cr3t"));
    let yaml = format!("api:\n  subsystems:\n    nats:\n      tokenFile: {}\n", f.token);
    assert_eq!(load(&[], Some(&yaml)).unwrap().token, token("s3cr3t-from-file"));
    let c = load(&["--api-nats-token", "from-flag"], Some(&yaml)).unwrap();
    assert_eq!(c.token, token("from-flag"), "the flag's token beats the file's tokenFile");
}

#[test]
fn a_bad_file_is_an_error_naming_the_flag() {
    let f = files();
    let cases = [
        ("--api-nats-credentials", &f.missing, "cannot read"),
        ("--api-nats-credentials", &f.garbage, "is not a NATS credentials file"),
        ("--api-nats-nkey", &f.missing, "cannot read"),
        ("--api-nats-nkey", &f.garbage, "is not an NKey seed file"),
        ("--api-nats-token-file", &f.missing, "cannot read"),
        ("--api-nats-tls-ca", &f.garbage, "is not a PEM certificate file"),
        ("--api-nats-tls-ca", &f.missing, "cannot read"),
        ("--api-nats-tls-cert", &f.key, "no CERTIFICATE section"),
        ("--api-nats-tls-key", &f.cert, "is not a PEM private key file"),
        ("--api-nats-tls-key", &f.missing, "cannot read"),
    ];
    for (flag, file, text) in cases {
        let err = parse(&[flag, file]).unwrap_err();
        assert!(err.contains(flag) && err.contains(file) && err.contains(text), "{flag}: {err}");
    }
    let err = parse(&["--api-nats-token="]).unwrap_err();
    assert!(err.contains("--api-nats-token") && err.contains("must not be empty"), "{err}");
    let empty = f.garbage.replace("garbage", "empty");
    std::fs::write(&empty, "\n").unwrap();
    let err = parse(&["--api-nats-token-file", &empty]).unwrap_err();
    assert!(err.contains("--api-nats-token-file") && err.contains("it is empty"), "{err}");
}

#[test]
fn a_bad_file_in_the_yaml_names_its_key_and_line() {
    let f = files();
    let cases = [
        (format!("credentials: {}", f.missing), "api.subsystems.nats.credentials", "cannot read"),
        (format!("nkey: {}", f.garbage), "api.subsystems.nats.nkey", "NKey seed"),
        (format!("tokenFile: {}", f.missing), "api.subsystems.nats.tokenFile", "cannot read"),
        ("token: \"  \"".to_owned(), "api.subsystems.nats.token", "must not be empty"),
        (format!("tls:\n        ca: {}", f.garbage), "api.subsystems.nats.tls.ca", "PEM"),
        (format!("tls:\n        key: {}", f.cert), "api.subsystems.nats.tls.key", "private key"),
    ];
    for (entry, key, text) in cases {
        let yaml = format!("api:\n  subsystems:\n    nats:\n      {entry}\n");
        let err = load(&[], Some(&yaml)).unwrap_err();
        assert!(
            err.starts_with("natsapi.yaml:") && err.contains(key) && err.contains(text),
            "{entry}: {err}"
        );
    }
    let err = load(&[], Some("api:\n  subsystems:\n    nats:\n      tls:\n        frist: true\n"))
        .unwrap_err();
    assert!(err.contains("unknown key \"api.subsystems.nats.tls.frist\""), "{err}");
}

#[test]
fn settings_that_do_not_go_together_are_an_error_naming_them() {
    let f = files();
    let err = load(&["--api-nats-tls-cert", &f.cert], None).unwrap_err();
    assert_eq!(
        err,
        "api.subsystems.nats.tls.cert (--api-nats-tls-cert) is set without \
         api.subsystems.nats.tls.key (--api-nats-tls-key): a client certificate needs its key"
    );
    let err = load(&["--api-nats-tls-key", &f.key], None).unwrap_err();
    assert!(err.starts_with("api.subsystems.nats.tls.key (--api-nats-tls-key) is set without"));
    // The pair may come from two sources.
    let yaml = format!("api:\n  subsystems:\n    nats:\n      tls:\n        cert: {}\n", f.cert);
    assert!(load(&["--api-nats-tls-key", &f.key], Some(&yaml)).is_ok());

    let yaml = format!("api:\n  subsystems:\n    nats:\n      credentials: {}\n", f.creds);
    let err = load(&["--api-nats-token", "t"], Some(&yaml)).unwrap_err();
    assert!(
        err.starts_with("set only one way to authenticate to NATS")
            && err.contains("(--api-nats-credentials)")
            && err.contains("--api-nats-token")
            && !err.contains("--api-nats-nkey"),
        "{err}"
    );
    let err =
        load(&["--api-nats-addr=nats://app:pw@h", "--api-nats-nkey", &f.nkey], None).unwrap_err();
    assert!(
        err.contains("(--api-nats-nkey), a user or token in api.subsystems.nats.addr"),
        "{err}"
    );
    let err = parse(&["--api-nats-token", "t", "--api-nats-token-file", &f.token]).unwrap_err();
    assert!(err.contains("--api-nats-token") && err.contains("cannot be used with"), "{err}");
    let yaml =
        format!("api:\n  subsystems:\n    nats:\n      token: t\n      tokenFile: {}\n", f.token);
    let err = load(&[], Some(&yaml)).unwrap_err();
    assert!(err.contains("api.subsystems.nats.tokenFile: set token or tokenFile"), "{err}");
}

#[test]
fn commands_without_a_file_check_the_same() {
    let f = files();
    let req = |flags: &[&str]| {
        let argv = std::iter::once("natsapi-req").chain(flags.iter().copied());
        ReqCli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .connection
            .settings("nats://h")
            .map_err(|e| {
                assert!(matches!(e, ConfigError::Conflict { .. } | ConfigError::ArgValue { .. }));
                e.to_string()
            })
    };
    let c = req(&["--api-nats-nkey", &f.nkey, "--api-nats-tls-ca", &f.ca]).unwrap();
    assert_eq!(c.nkey.as_deref(), Some(Path::new(&f.nkey)));
    assert_eq!(c.tls.ca.as_deref(), Some(Path::new(&f.ca)));
    assert!(req(&["--api-nats-tls-cert", &f.cert]).unwrap_err().contains("needs its key"));
    assert!(req(&["--api-nats-tls-ca", &f.garbage]).unwrap_err().contains("--api-nats-tls-ca"));

    // Arguments built by hand are checked with the flag's name too.
    let args = ConnectArgs { api_nats_credentials: Some(f.garbage.into()), ..Default::default() };
    let err = args.settings("nats://h").unwrap_err().to_string();
    assert!(
        err.starts_with(
            "invalid value for --api-nats-credentials (or NATSAPI_API_NATS_CREDENTIALS): "
        ) && err.contains("is not a NATS credentials file"),
        "{err}"
    );
}

#[test]
fn the_child_environment_covers_every_connection_variable() {
    let declared: Vec<String> = ReqCli::command()
        .get_arguments()
        .filter_map(|a| a.get_env().and_then(|e| e.to_str()).map(str::to_owned))
        .collect();
    assert_eq!(declared, super::CONNECTION_ENV, "CONNECTION_ENV lists the flags' variables");
    let f = files();
    let settings = ConnectionSettings {
        credentials: Some(f.creds.clone().into()),
        nkey: None,
        token: token("s3cr3t"),
        tls: TlsSettings {
            ca: Some(f.ca.clone().into()),
            cert: Some(f.cert.clone().into()),
            key: Some(f.key.clone().into()),
            first: true,
        },
    };
    let env: Vec<(&str, String)> = super::child_env(&settings)
        .into_iter()
        .map(|(name, value)| (name, value.into_string().unwrap()))
        .collect();
    assert_eq!(
        env,
        [
            ("NATSAPI_API_NATS_CREDENTIALS", f.creds.clone()),
            ("NATSAPI_API_NATS_TLS_CA", f.ca.clone()),
            ("NATSAPI_API_NATS_TLS_CERT", f.cert.clone()),
            ("NATSAPI_API_NATS_TLS_KEY", f.key.clone()),
            ("NATSAPI_API_NATS_TOKEN", "s3cr3t".to_owned()),
            ("NATSAPI_API_NATS_TLS_FIRST", "true".to_owned()),
        ]
    );
    assert!(super::child_env(&ConnectionSettings::default()).is_empty());
}
