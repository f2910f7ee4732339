//! `NATSAPI_*` environment variables, tested in a child process: the
//! workspace forbids `unsafe`, so this process cannot set variables itself.
//! The test re-runs its own test binary with a controlled environment and a
//! marker variable; the child run does the checks.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use natsapi_config::{LogFormat, Mode, ServerArgs, Settings, StoreKind, WorkerThreads, load};

/// Parser as the binary builds it.
#[derive(Parser, Debug)]
#[command(name = "natsapi")]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

const CHILD: &str = "NATSAPI_CONFIG_TEST_CHILD";

/// Runs the named test of this binary in a child process whose `NATSAPI_*`
/// variables are exactly `vars` (plus the marker), and asserts it passed.
fn run_child(test: &str, vars: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NATSAPI_") {
            cmd.env_remove(name);
        }
    }
    cmd.env(CHILD, "1").envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

#[test]
fn env_beats_file_and_flag_beats_env() {
    if !in_child() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("natsapi.yaml");
        std::fs::write(
            &file,
            "api:\n  subsystems:\n    nats:\n      subject: from.file\n      timeout: 7s\n      maxInflight: 5\n\
             store:\n  kind: memory\nruntime:\n  workerThreads: 3\n",
        )
        .unwrap();
        run_child(
            "env_beats_file_and_flag_beats_env",
            &[
                ("NATSAPI_CONFIG", file.to_str().unwrap()),
                ("NATSAPI_API_NATS_SUBJECT", "from.env"),
                ("NATSAPI_API_NATS_TIMEOUT", "3s"),
                ("NATSAPI_API_NATS_ENABLE", "false"),
                ("NATSAPI_API_HTTP_ENABLE", "false"),
                ("NATSAPI_API_NATS_MAX_PAYLOAD", "2MiB"),
                ("NATSAPI_STORE", "sqlite"),
                ("NATSAPI_LOG_FORMAT", "json"),
                ("NATSAPI_WORKER_THREADS", "1"),
            ],
        );
        return;
    }
    // Environment only: the file named by NATSAPI_CONFIG is read, and the
    // variables override it.
    let cli = Cli::try_parse_from(["natsapi"]).unwrap();
    assert!(cli.args.config.is_some());
    let s = load(Mode::Dev, &cli.args).unwrap();
    assert_eq!(s.api.nats.subject, "from.env", "env beats file");
    assert_eq!(s.api.nats.timeout, Duration::from_secs(3), "env beats file");
    assert_eq!(s.api.nats.max_inflight, 5, "file beats default");
    assert_eq!(s.api.nats.max_payload, 2 << 20);
    assert!(!s.api.nats.enabled);
    assert!(!s.api.http.enabled);
    assert_eq!(s.store.kind, StoreKind::Sqlite, "env beats file and mode default");
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.log.level, None, "RUST_LOG or info when nothing is given");
    assert_eq!(s.runtime.worker_threads.to_string(), "1", "env beats file");
    assert_eq!(s.runtime.worker_threads.resolve(), 1);

    // Flags beat the environment.
    let cli = Cli::try_parse_from([
        "natsapi",
        "--api-nats-subject=from.flag",
        "--api-nats-enable",
        "--store=memory",
        "--worker-threads=auto",
    ])
    .unwrap();
    let s = load(Mode::Dev, &cli.args).unwrap();
    assert_eq!(s.runtime.worker_threads, WorkerThreads::Auto, "flag beats env");
    assert_eq!(s.api.nats.subject, "from.flag");
    assert!(s.api.nats.enabled, "bare flag beats NATSAPI_API_NATS_ENABLE=false");
    assert_eq!(s.api.nats.timeout, Duration::from_secs(3), "env still applies");
    assert_eq!(s.store.kind, StoreKind::Memory);

    // --config beats NATSAPI_CONFIG.
    let cli = Cli::try_parse_from(["natsapi", "--config=/nonexistent/other.yaml"]).unwrap();
    assert_eq!(cli.args.config.as_deref(), Some(Path::new("/nonexistent/other.yaml")));
}

#[test]
fn bad_env_value_is_rejected() {
    if !in_child() {
        run_child(
            "bad_env_value_is_rejected",
            &[("NATSAPI_API_NATS_SUBJECT", "a.*"), ("NATSAPI_LOG_LEVEL", "")],
        );
        return;
    }
    let err = Cli::try_parse_from(["natsapi"]).unwrap_err().to_string();
    assert!(err.contains("--api-nats-subject") && err.contains("wildcards"), "{err}");
    // A flag replaces the bad variable, so it is never parsed.
    let cli =
        Cli::try_parse_from(["natsapi", "--api-nats-subject=ok.subject", "--log-level=debug"])
            .unwrap();
    assert_eq!(cli.args.api_nats_subject.as_deref(), Some("ok.subject"));
    // An empty variable is a value (clap does not treat it as unset): rejected.
    let err =
        Cli::try_parse_from(["natsapi", "--api-nats-subject=ok.subject"]).unwrap_err().to_string();
    assert!(err.contains("--log-level") && err.contains("must not be empty"), "{err}");
}

#[test]
fn bad_worker_threads_env_is_rejected() {
    if !in_child() {
        run_child("bad_worker_threads_env_is_rejected", &[("NATSAPI_WORKER_THREADS", "0")]);
        return;
    }
    let err = Cli::try_parse_from(["natsapi"]).unwrap_err().to_string();
    assert!(err.contains("--worker-threads") && err.contains("greater than zero"), "{err}");
    let cli = Cli::try_parse_from(["natsapi", "--worker-threads=2"]).unwrap();
    assert_eq!(cli.args.worker_threads.map(|w| w.resolve()), Some(2));
}

#[test]
fn no_environment_means_defaults() {
    if !in_child() {
        run_child("no_environment_means_defaults", &[]);
        return;
    }
    let cli = Cli::try_parse_from(["natsapi"]).unwrap();
    assert_eq!(cli.args, ServerArgs::default());
    for mode in [Mode::Serve, Mode::Dev] {
        assert_eq!(load(mode, &cli.args).unwrap(), Settings::defaults(mode));
    }
}

#[test]
fn connection_settings_pass_to_a_child_through_the_environment() {
    if !in_child() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n")
            .unwrap();
        let settings = natsapi_client::ConnectionSettings {
            token: Some(natsapi_client::Token::new("s3cr3t").unwrap()),
            tls: natsapi_client::TlsSettings { ca: Some(ca), first: true, ..Default::default() },
            ..Default::default()
        };
        // What `natsapi bench` gives its children; the child checks it reads the same back.
        let env: Vec<(&str, String)> = natsapi_config::child_env(&settings)
            .into_iter()
            .map(|(name, value)| (name, value.into_string().unwrap()))
            .collect();
        let mut vars: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let expected = format!("{settings:?}");
        vars.push(("NATSAPI_TEST_EXPECTED", &expected));
        run_child("connection_settings_pass_to_a_child_through_the_environment", &vars);
        return;
    }
    let cli = Cli::try_parse_from(["natsapi"]).unwrap();
    let s = load(Mode::Serve, &cli.args).unwrap();
    let connection = &s.api.nats.connection;
    assert_eq!(connection.token.as_ref().map(|t| t.expose()), Some("s3cr3t"));
    assert!(connection.tls.first);
    assert_eq!(format!("{connection:?}"), std::env::var("NATSAPI_TEST_EXPECTED").unwrap());
}

#[test]
fn postgres_env_beats_file_and_flag_beats_env() {
    if !in_child() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("natsapi.yaml");
        std::fs::write(
            &file,
            "store:\n  kind: sqlite\n  postgres:\n    url: postgres://file@db/natsapi\n    \
             poolSize: 5\n    statementTimeout: 10s\n",
        )
        .unwrap();
        run_child(
            "postgres_env_beats_file_and_flag_beats_env",
            &[
                ("NATSAPI_CONFIG", file.to_str().unwrap()),
                ("NATSAPI_STORE", "postgres"),
                ("NATSAPI_STORE_POSTGRES_URL", "postgres://natsapi:s3cret@env/natsapi"),
                ("NATSAPI_STORE_POSTGRES_POOL_SIZE", "3"),
                ("NATSAPI_STORE_POSTGRES_STATEMENT_TIMEOUT", "off"),
            ],
        );
        return;
    }
    let cli = Cli::try_parse_from(["natsapi"]).unwrap();
    let s = load(Mode::Serve, &cli.args).unwrap();
    let pg = &s.store.postgres;
    assert_eq!(s.store.kind, StoreKind::Postgres, "env beats file");
    let url = pg.url.as_ref().map(|u| u.expose());
    assert_eq!(url, Some("postgres://natsapi:s3cret@env/natsapi"), "env beats file");
    assert_eq!((pg.pool_size, pg.statement_timeout), (3, None), "env beats file");
    assert!(!format!("{s:?}").contains("s3cret"));

    let cli = Cli::try_parse_from([
        "natsapi",
        "--store-postgres-url=host=flag",
        "--store-postgres-pool-size=4",
        "--store-postgres-statement-timeout=2s",
    ])
    .unwrap();
    let pg = load(Mode::Serve, &cli.args).unwrap().store.postgres;
    assert_eq!(pg.url.as_ref().map(|u| u.expose()), Some("host=flag"), "flag beats env");
    assert_eq!((pg.pool_size, pg.statement_timeout), (4, Some(Duration::from_secs(2))));

    // `--help` names the variable but never prints its value.
    use clap::CommandFactory;
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains("[env: NATSAPI_STORE_POSTGRES_URL]"), "{help}");
    assert!(help.contains("[env: NATSAPI_STORE_POSTGRES_POOL_SIZE=3]"), "{help}");
    assert!(!help.contains("s3cret"), "{help}");
}

#[test]
fn bad_postgres_env_values_are_rejected_without_the_password() {
    if !in_child() {
        run_child(
            "bad_postgres_env_values_are_rejected_without_the_password",
            &[
                ("NATSAPI_STORE_POSTGRES_URL", "mysql://natsapi:s3cret@db/natsapi"),
                ("NATSAPI_STORE_POSTGRES_POOL_SIZE", "1"),
            ],
        );
        return;
    }
    let err =
        Cli::try_parse_from(["natsapi", "--store-postgres-pool-size=2"]).unwrap_err().to_string();
    assert!(err.contains("--store-postgres-url") && err.contains("scheme \"mysql\""), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let err =
        Cli::try_parse_from(["natsapi", "--store-postgres-url=host=db"]).unwrap_err().to_string();
    assert!(err.contains("--store-postgres-pool-size") && err.contains("minimum of 2"), "{err}");
}
