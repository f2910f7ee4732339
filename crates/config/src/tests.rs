use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::*;
use crate::settings::auto_worker_threads;

/// Test parser.
#[derive(Parser, Debug)]
#[command(name = "natsapi")]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

fn args(flags: &[&str]) -> ServerArgs {
    let argv = std::iter::once("natsapi").chain(flags.iter().copied());
    Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{flags:?}: {e}")).args
}

fn from_yaml(mode: Mode, flags: &[&str], yaml: &str) -> Result<Settings, ConfigError> {
    load_from(mode, &args(flags), Some((Path::new("natsapi.yaml"), yaml)))
}

fn yaml_err(yaml: &str) -> String {
    from_yaml(Mode::Serve, &[], yaml).unwrap_err().to_string()
}

/// A listener that is not `dev`'s default (no free port instead of a busy one).
fn listener(enabled: bool, addr: &str) -> HttpSettings {
    HttpSettings {
        enabled,
        addr: addr.into(),
        any_port_if_busy: false,
        limits: HttpLimitSettings::default(),
    }
}

fn fixed(n: usize) -> WorkerThreads {
    WorkerThreads::Fixed(NonZeroUsize::new(n).unwrap())
}

#[test]
fn defaults_differ_by_mode() {
    let serve = Settings::defaults(Mode::Serve);
    let dev = Settings::defaults(Mode::Dev);
    assert_eq!(serve.store.kind, StoreKind::Sqlite);
    assert_eq!(dev.store.kind, StoreKind::Memory);
    for s in [&serve, &dev] {
        assert!(s.api.nats.enabled);
        assert_eq!(s.api.nats.addr, "nats://localhost:4222");
        assert_eq!(s.api.nats.subject, "resonate.server");
        assert_eq!(s.api.nats.timeout, Duration::from_secs(10));
        assert_eq!(s.api.nats.max_payload, 1024 * 1024);
        assert_eq!(s.api.nats.max_inflight, 1024);
        assert_eq!(s.api.nats.queue_group, "natsapi");
        assert!(s.api.http.enabled);
        assert_eq!(s.api.http.addr, "0.0.0.0:8001");
        assert_eq!(s.store.sqlite.path, Path::new("natsapi.db"));
        assert_eq!(s.store.sqlite.synchronous, Synchronous::Full);
        assert_eq!(s.store.postgres.url, None, "no default URL");
        assert_eq!(s.store.postgres.pool_size, 8);
        assert_eq!(s.store.postgres.statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(s.log.level, None, "RUST_LOG or info");
        assert_eq!(s.log.format, LogFormat::Text);
        assert_eq!(s.runtime.worker_threads, WorkerThreads::Auto);
    }
    let mut same = dev.clone();
    same.store.kind = StoreKind::Sqlite;
    assert!(dev.ingest.gateway.enabled && dev.ingest.worker_enabled, "dev runs ingest");
    same.ingest.gateway.enabled = false;
    same.ingest.worker_enabled = false;
    assert!(dev.ingest.temp_database, "dev keeps its ingest data in its temporary directory");
    same.ingest.temp_database = false;
    for listener in [&mut same.api.http, &mut same.api.poll, &mut same.ingest.gateway] {
        assert!(listener.any_port_if_busy, "dev takes a free port when a default one is busy");
        listener.any_port_if_busy = false;
    }
    assert_eq!(
        same, serve,
        "only the store kind, the ingest roles and dev's fallbacks (ports, ingest data) differ"
    );
}

#[test]
fn defaults_are_valid() {
    for mode in [Mode::Serve, Mode::Dev] {
        let d = Settings::defaults(mode);
        parse::nats_addr(&d.api.nats.addr).unwrap();
        parse::subject(&d.api.nats.subject).unwrap();
        parse::queue_group(&d.api.nats.queue_group).unwrap();
        parse::http_addr(&d.api.http.addr).unwrap();
        parse::log_level(DEFAULT_LOG_LEVEL).unwrap();
        assert_eq!(d.api.http.socket_addr().unwrap(), "0.0.0.0:8001".parse().unwrap());
    }
}

#[test]
fn nothing_given_means_defaults() {
    for mode in [Mode::Serve, Mode::Dev] {
        assert_eq!(load(mode, &ServerArgs::default()).unwrap(), Settings::defaults(mode));
        assert_eq!(load(mode, &args(&[])).unwrap(), Settings::defaults(mode));
        assert_eq!(from_yaml(mode, &[], "").unwrap(), Settings::defaults(mode), "empty file");
        assert_eq!(from_yaml(mode, &[], "# only a comment\n").unwrap(), Settings::defaults(mode));
        assert_eq!(
            from_yaml(mode, &[], "api:\nstore: ~\nlog: {}\nruntime: {}\n").unwrap(),
            Settings::defaults(mode),
            "empty sections"
        );
    }
}

#[test]
fn enable_flags_bare_true_equals_false() {
    assert_eq!(args(&[]).api_nats_enable, None);
    assert_eq!(args(&["--api-nats-enable"]).api_nats_enable, Some(true));
    assert_eq!(args(&["--api-nats-enable=true"]).api_nats_enable, Some(true));
    assert_eq!(args(&["--api-nats-enable=false"]).api_nats_enable, Some(false));
    assert_eq!(args(&["--api-http-enable"]).api_http_enable, Some(true));
    assert_eq!(args(&["--api-http-enable=false"]).api_http_enable, Some(false));
    assert_eq!(args(&["--api-http-enable=no"]).api_http_enable, Some(false));
    assert_eq!(args(&["--api-http-enable=0"]).api_http_enable, Some(false));
    // A value must be attached with `=`; a separate word is not the value.
    assert!(Cli::try_parse_from(["natsapi", "--api-nats-enable", "false"]).is_err());
    assert!(Cli::try_parse_from(["natsapi", "--api-nats-enable=maybe"]).is_err());

    let s =
        load(Mode::Serve, &args(&["--api-nats-enable=false", "--api-http-enable=false"])).unwrap();
    assert!(!s.api.nats.enabled);
    assert!(!s.api.http.enabled);
    // The bare flag re-enables what the file disabled.
    let yaml = "api:\n  subsystems:\n    nats:\n      enabled: false\n";
    assert!(!from_yaml(Mode::Serve, &[], yaml).unwrap().api.nats.enabled);
    assert!(from_yaml(Mode::Serve, &["--api-nats-enable"], yaml).unwrap().api.nats.enabled);
}

#[test]
fn every_flag_parses() {
    let a = args(&[
        "--config=my.yaml",
        "--api-nats-enable=false",
        "--api-nats-addr=tls://a:4443,tls://b:4443",
        "--api-nats-subject=orders.api",
        "--api-nats-timeout=500ms",
        "--api-nats-max-payload=2MiB",
        "--api-nats-max-inflight=8",
        "--api-nats-queue-group=workers",
        "--api-http-enable=false",
        "--api-http-addr=127.0.0.1:0",
        "--poll-enable=false",
        "--poll-addr=127.0.0.1:0",
        "--store=memory",
        "--store-sqlite-path=/var/lib/natsapi/p.db",
        "--store-sqlite-synchronous=normal",
        "--store-postgres-url=postgres://natsapi:s3cret@db:5432/natsapi",
        "--store-postgres-pool-size=4",
        "--store-postgres-statement-timeout=1m",
        "--log-level=info,natsapi=debug",
        "--log-format=json",
        "--worker-threads=4",
        "--ingest-enable",
        "--ingest-addr=127.0.0.1:9",
        "--worker-enable=false",
        "--ingest-stream=ORDERS",
        "--ingest-db=/var/lib/natsapi/i.db",
    ]);
    assert_eq!(a.config.as_deref(), Some(Path::new("my.yaml")));
    let s = load_from(Mode::Serve, &a, None).unwrap();
    assert_eq!(
        s,
        Settings {
            api: ApiSettings {
                nats: NatsSettings {
                    enabled: false,
                    addr: "tls://a:4443,tls://b:4443".into(),
                    subject: "orders.api".into(),
                    timeout: Duration::from_millis(500),
                    max_payload: 2 << 20,
                    max_inflight: 8,
                    queue_group: "workers".into(),
                    connection: Default::default(),
                },
                http: listener(false, "127.0.0.1:0"),
                poll: listener(false, "127.0.0.1:0"),
                http_auth: None,
            },
            store: StoreSettings {
                kind: StoreKind::Memory,
                sqlite: SqliteSettings {
                    path: "/var/lib/natsapi/p.db".into(),
                    synchronous: Synchronous::Normal,
                },
                postgres: PostgresSettings {
                    url: Some(
                        PostgresUrl::parse("postgres://natsapi:s3cret@db:5432/natsapi").unwrap()
                    ),
                    pool_size: 4,
                    statement_timeout: Some(Duration::from_secs(60)),
                },
            },
            log: LogSettings { level: Some("info,natsapi=debug".into()), format: LogFormat::Json },
            runtime: RuntimeSettings { worker_threads: fixed(4) },
            targets: BTreeMap::new(),
            ingest: crate::IngestSettings {
                gateway: listener(true, "127.0.0.1:9"),
                worker_enabled: false,
                stream: "ORDERS".into(),
                database: crate::IngestDatabase::Sqlite("/var/lib/natsapi/i.db".into()),
                ..crate::IngestSettings::defaults(Mode::Serve)
            },
        }
    );
    // Space-separated values and case-insensitive enum names work too.
    let a = args(&[
        "--api-nats-timeout",
        "1m",
        "--store",
        "PostgreSQL",
        "--store-postgres-url",
        "host=db",
        "--log-format",
        "JSON",
        "--worker-threads",
        "Auto",
    ]);
    assert_eq!(a.api_nats_timeout, Some(Duration::from_secs(60)));
    assert_eq!(a.store, Some(StoreKind::Postgres));
    assert_eq!(a.log_format, Some(LogFormat::Json));
    assert_eq!(a.worker_threads, Some(WorkerThreads::Auto));
}

#[test]
fn every_yaml_key_parses() {
    let yaml = r#"
api:
  subsystems:
    nats:
      enabled: false
      addr: nats://user:pw@a:4222, b:4222
      subject: orders.api
      timeout: 1m 30s
      maxPayload: 512KiB
      maxInflight: 16
      queueGroup: workers
    http: { enabled: no, addr: "[::1]:9000" }
    poll: { enabled: false, addr: "127.0.0.1:9002" }
store:
  kind: memory
  sqlite: { path: data/p.db, synchronous: NORMAL }
  postgres: { url: "postgresql://db/natsapi", poolSize: 3, statementTimeout: off }
log: { level: "warn,natsapi=trace", format: json }
runtime:
  workerThreads: 3
"#;
    let s = from_yaml(Mode::Serve, &[], yaml).unwrap();
    assert!(!s.api.nats.enabled);
    assert_eq!(s.api.nats.addr, "nats://user:pw@a:4222,b:4222");
    assert_eq!(s.api.nats.subject, "orders.api");
    assert_eq!(s.api.nats.timeout, Duration::from_secs(90));
    assert_eq!(s.api.nats.max_payload, 512 * 1024);
    assert_eq!(s.api.nats.max_inflight, 16);
    assert_eq!(s.api.nats.queue_group, "workers");
    assert!(!s.api.http.enabled);
    assert_eq!(s.api.http.addr, "[::1]:9000");
    assert!(!s.api.poll.enabled);
    assert_eq!(s.api.poll.addr, "127.0.0.1:9002");
    assert_eq!(s.store.kind, StoreKind::Memory);
    assert_eq!(s.store.sqlite.path, Path::new("data/p.db"));
    assert_eq!(s.store.sqlite.synchronous, Synchronous::Normal);
    let pg = &s.store.postgres;
    assert_eq!(pg.url.as_ref().map(PostgresUrl::expose), Some("postgresql://db/natsapi"));
    assert_eq!((pg.pool_size, pg.statement_timeout), (3, None));
    assert_eq!(s.log.level.as_deref(), Some("warn,natsapi=trace"));
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.runtime.worker_threads, fixed(3));
    let s = from_yaml(Mode::Serve, &[], "runtime:\n  workerThreads: AUTO\n").unwrap();
    assert_eq!(s.runtime.worker_threads, WorkerThreads::Auto);
    let s = from_yaml(Mode::Serve, &[], "runtime:\n  workerThreads: \"1\"\n").unwrap();
    assert_eq!(s.runtime.worker_threads, fixed(1));
}

#[test]
fn targets_parse() {
    let yaml = r#"
targets:
  orders: nats://orders.tasks
  billing: "https://billing.example.com/tasks"
  default: poll://any@workers
  one: poll://uni@workers/w1
  near: poll://any@workers/w1
"#;
    let s = from_yaml(Mode::Serve, &[], yaml).unwrap();
    let get = |name: &str| s.targets.get(name).map(String::as_str);
    assert_eq!(s.targets.len(), 5);
    assert_eq!(get("orders"), Some("nats://orders.tasks"));
    assert_eq!(get("billing"), Some("https://billing.example.com/tasks"));
    assert_eq!(get("default"), Some("poll://any@workers"));
    assert_eq!(get("one"), Some("poll://uni@workers/w1"));
    assert_eq!(get("near"), Some("poll://any@workers/w1"));
    assert!(from_yaml(Mode::Serve, &[], "targets:\n").unwrap().targets.is_empty());
    assert!(from_yaml(Mode::Serve, &[], "targets: {}\n").unwrap().targets.is_empty());
}

#[test]
fn flag_beats_file_beats_default() {
    let yaml = "api:\n  subsystems:\n    nats:\n      subject: from.file\n      timeout: 7s\n\
                store:\n  kind: memory\n";
    let s = from_yaml(Mode::Serve, &["--api-nats-subject=from.flag"], yaml).unwrap();
    assert_eq!(s.api.nats.subject, "from.flag", "flag beats file");
    assert_eq!(s.api.nats.timeout, Duration::from_secs(7), "file beats default");
    assert_eq!(s.store.kind, StoreKind::Memory, "file beats the mode default");
    assert_eq!(s.api.nats.max_inflight, 1024, "default when nothing is given");

    let s = from_yaml(Mode::Dev, &["--store=sqlite"], yaml).unwrap();
    assert_eq!(s.store.kind, StoreKind::Sqlite, "flag beats file");

    let yaml = "runtime:\n  workerThreads: 2\n";
    assert_eq!(from_yaml(Mode::Serve, &[], yaml).unwrap().runtime.worker_threads, fixed(2));
    let s = from_yaml(Mode::Serve, &["--worker-threads=auto"], yaml).unwrap();
    assert_eq!(s.runtime.worker_threads, WorkerThreads::Auto, "flag beats file");
}

#[test]
fn load_reads_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natsapi.yaml");
    std::fs::write(&path, "log:\n  level: debug\n").unwrap();
    let flag = format!("--config={}", path.display());
    let s = load(Mode::Dev, &args(&[&flag, "--log-format=json"])).unwrap();
    assert_eq!(s.log.level.as_deref(), Some("debug"));
    assert_eq!(s.log.format, LogFormat::Json);

    // Errors name the file as given.
    std::fs::write(&path, "log:\n  levle: debug\n").unwrap();
    let err = load(Mode::Dev, &args(&[&flag])).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:2:3: unknown key \"log.levle\"", path.display())),
        "{err}"
    );

    let missing = dir.path().join("missing.yaml");
    let err = load(Mode::Dev, &args(&[&format!("--config={}", missing.display())])).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.yaml"), "{err}");
}

#[test]
fn unknown_key_names_the_key_path() {
    let err = from_yaml(
        Mode::Serve,
        &[],
        "api:\n  subsystems:\n    nats:\n      subject: a.b\n      subjct: a.b\n",
    )
    .unwrap_err();
    match &err {
        ConfigError::UnknownKey { file, key, line, expected, .. } => {
            assert_eq!(file, Path::new("natsapi.yaml"));
            assert_eq!(key, "api.subsystems.nats.subjct");
            assert_eq!(*line, Some(5));
            assert!(expected.iter().any(|k| k == "maxPayload"), "{expected:?}");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.starts_with("natsapi.yaml:5:7: unknown key \"api.subsystems.nats.subjct\" (expected one of: enabled, addr, subject,"),
        "{msg}"
    );

    assert!(yaml_err("apii: {}\n").contains("unknown key \"apii\""));
    assert!(yaml_err("api:\n  nats: {}\n").contains("unknown key \"api.nats\""));
    assert!(
        yaml_err("store:\n  sqlite:\n    journal: wal\n")
            .contains("unknown key \"store.sqlite.journal\"")
    );
    assert!(yaml_err("runtime:\n  threads: 2\n").contains("unknown key \"runtime.threads\""));
    // snake_case spellings are not the file's keys.
    assert!(
        yaml_err("api:\n  subsystems:\n    nats:\n      max_payload: 10\n")
            .contains("unknown key \"api.subsystems.nats.max_payload\"")
    );
    assert!(
        yaml_err("runtime:\n  worker_threads: 2\n")
            .contains("unknown key \"runtime.worker_threads\" (expected one of: workerThreads)")
    );
}

#[test]
fn bad_duration_names_the_key() {
    let err =
        from_yaml(Mode::Serve, &[], "api:\n  subsystems:\n    nats:\n      timeout: ten seconds\n")
            .unwrap_err();
    assert!(
        matches!(&err, ConfigError::FileValue { key, .. } if key == "api.subsystems.nats.timeout"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.starts_with("natsapi.yaml:"), "{msg}");
    assert!(
        msg.contains(r#"invalid value for api.subsystems.nats.timeout: "ten seconds" is not a duration (e.g. 10s, 500ms)"#),
        "{msg}"
    );
    assert!(
        yaml_err("api:\n  subsystems:\n    nats:\n      timeout: 0s\n")
            .contains("greater than zero")
    );
}

#[test]
fn bad_file_values_name_the_key() {
    let cases = [
        (
            "api:\n  subsystems:\n    nats:\n      subject: a.*\n",
            "api.subsystems.nats.subject",
            "wildcards",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      subject: \"a b\"\n",
            "api.subsystems.nats.subject",
            "whitespace",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      subject: \"\"\n",
            "api.subsystems.nats.subject",
            "empty",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      addr: http://x:1\n",
            "api.subsystems.nats.addr",
            "scheme",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      maxPayload: 0\n",
            "api.subsystems.nats.maxPayload",
            "greater than zero",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      maxPayload: lots\n",
            "api.subsystems.nats.maxPayload",
            "byte size",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      maxInflight: -1\n",
            "api.subsystems.nats.maxInflight",
            "positive integer",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      queueGroup: \"\"\n",
            "api.subsystems.nats.queueGroup",
            "empty",
        ),
        (
            "api:\n  subsystems:\n    nats:\n      enabled: maybe\n",
            "api.subsystems.nats.enabled",
            "",
        ),
        (
            "api:\n  subsystems:\n    http:\n      addr: localhost:80\n",
            "api.subsystems.http.addr",
            "socket address",
        ),
        (
            "api:\n  subsystems:\n    poll:\n      idleTimeout: 500ms\n",
            "api.subsystems.poll.idleTimeout",
            "shorter than the minimum of 1s",
        ),
        (
            "api:\n  subsystems:\n    http:\n      maxConnections: 0\n",
            "api.subsystems.http.maxConnections",
            "greater than zero",
        ),
        (
            "api:\n  subsystems:\n    http:\n      headerReadTimeout: 0s\n",
            "api.subsystems.http.headerReadTimeout",
            "greater than zero",
        ),
        (
            "store:\n  kind: mysql\n",
            "store.kind",
            "\"mysql\" is not one of memory, sqlite, postgres",
        ),
        (
            "store:\n  sqlite:\n    synchronous: off\n",
            "store.sqlite.synchronous",
            "is not one of full, normal",
        ),
        ("store:\n  sqlite:\n    path: \"\"\n", "store.sqlite.path", "empty"),
        ("store:\n  postgres:\n    url: \"\"\n", "store.postgres.url", "must not be empty"),
        ("store:\n  postgres:\n    url: mysql://h\n", "store.postgres.url", "scheme \"mysql\""),
        ("store:\n  postgres:\n    poolSize: 1\n", "store.postgres.poolSize", "minimum of 2"),
        (
            "store:\n  postgres:\n    statementTimeout: 1us\n",
            "store.postgres.statementTimeout",
            "whole number of milliseconds",
        ),
        ("log:\n  level: infoo\n", "log.level", "not a valid log filter"),
        ("log:\n  format: xml\n", "log.format", "is not one of text, json"),
        ("runtime:\n  workerThreads: 0\n", "runtime.workerThreads", "greater than zero"),
        (
            "runtime:\n  workerThreads: all\n",
            "runtime.workerThreads",
            r#""all" is not a positive integer or "auto""#,
        ),
        ("runtime:\n  workerThreads: -2\n", "runtime.workerThreads", "positive integer"),
        ("api:\n  subsystems:\n    nats: 5\n", "api.subsystems.nats", ""),
        ("api:\n  subsystems:\n    nats:\n      subject: [a]\n", "api.subsystems.nats.subject", ""),
        ("targets:\n  orders: ftp://x\n", "targets.orders", r#"unsupported scheme "ftp""#),
        ("targets:\n  orders: nats://a.*\n", "targets.orders", "wildcards"),
        ("targets:\n  orders: \"nats://\"\n", "targets.orders", "must not be empty"),
        ("targets:\n  a: http://\n", "targets.a", "empty host"),
        ("targets:\n  a: poll://uni@g\n", "targets.a", "cast uni needs an id"),
        ("targets:\n  a: poll://g/\n", "targets.a", "the id is empty"),
        ("targets:\n  a: poll://any@\n", "targets.a", "the group is empty"),
        ("targets:\n  a: orders\n", "targets.a", "is not a recv URL"),
        ("targets:\n  a: [nats://x]\n", "targets.a", ""),
    ];
    for (yaml, key, text) in cases {
        let err = from_yaml(Mode::Serve, &[], yaml).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, ConfigError::FileValue { key: k, line: Some(_), .. } if k == key),
            "{yaml:?}: {err:?}"
        );
        assert!(
            msg.starts_with("natsapi.yaml:")
                && msg.contains(&format!("invalid value for {key}: "))
                && msg.contains(text),
            "{yaml:?}: {msg}"
        );
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}

#[test]
fn malformed_yaml_is_a_syntax_error() {
    for yaml in ["- 1\n", "api: [\n", "just text\n", "api:\n\tsubsystems: {}\n"] {
        let err = from_yaml(Mode::Serve, &[], yaml).unwrap_err();
        assert!(
            matches!(err, ConfigError::Syntax { .. } | ConfigError::FileValue { .. }),
            "{yaml:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("natsapi.yaml"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
    let msg = yaml_err("log:\n  level: info\n  level: debug\n");
    assert_eq!(msg, r#"natsapi.yaml:3:3: invalid YAML: duplicate key "log.level""#);
    let msg = yaml_err("api:\n  subsystems:\n    nats: {}\n    nats: {}\n");
    assert!(msg.ends_with(r#"duplicate key "api.subsystems.nats""#), "{msg}");
}

#[test]
fn bad_flags_are_rejected_by_clap_naming_the_flag() {
    for (flag, name) in [
        ("--api-nats-subject=a b", "--api-nats-subject"),
        ("--api-nats-subject=a.>", "--api-nats-subject"),
        ("--api-nats-subject=", "--api-nats-subject"),
        ("--api-nats-addr=http://x", "--api-nats-addr"),
        ("--api-nats-timeout=ten seconds", "--api-nats-timeout"),
        ("--api-nats-timeout=0s", "--api-nats-timeout"),
        ("--api-nats-max-payload=0", "--api-nats-max-payload"),
        ("--api-nats-max-payload=1PiB", "--api-nats-max-payload"),
        ("--api-nats-max-inflight=0", "--api-nats-max-inflight"),
        ("--api-nats-queue-group=", "--api-nats-queue-group"),
        ("--api-http-addr=localhost:80", "--api-http-addr"),
        ("--store=mysql", "--store"),
        ("--store-postgres-url=mysql://h", "--store-postgres-url"),
        ("--store-postgres-pool-size=1", "--store-postgres-pool-size"),
        ("--store-postgres-statement-timeout=0.5ms", "--store-postgres-statement-timeout"),
        ("--store-sqlite-path=", "--store-sqlite-path"),
        ("--store-sqlite-synchronous=off", "--store-sqlite-synchronous"),
        ("--log-level=loud", "--log-level"),
        ("--log-format=xml", "--log-format"),
        ("--config=", "--config"),
        ("--worker-threads=0", "--worker-threads"),
        ("--worker-threads=many", "--worker-threads"),
        ("--worker-threads=", "--worker-threads"),
    ] {
        let err = Cli::try_parse_from(["natsapi", flag]).unwrap_err().to_string();
        assert!(err.contains(name), "{flag}: {err}");
    }
    let err =
        Cli::try_parse_from(["natsapi", "--api-nats-timeout=ten seconds"]).unwrap_err().to_string();
    assert!(err.contains(r#""ten seconds" is not a duration (e.g. 10s, 500ms)"#), "{err}");
}

#[test]
fn hand_built_args_are_checked_too() {
    let bad = [
        ServerArgs { api_nats_subject: Some("a b".into()), ..Default::default() },
        ServerArgs { api_nats_addr: Some("".into()), ..Default::default() },
        ServerArgs { api_nats_timeout: Some(Duration::ZERO), ..Default::default() },
        ServerArgs { api_nats_max_payload: Some(0), ..Default::default() },
        ServerArgs { api_nats_max_inflight: Some(0), ..Default::default() },
        ServerArgs { api_nats_queue_group: Some("".into()), ..Default::default() },
        ServerArgs { api_http_addr: Some("nowhere".into()), ..Default::default() },
        ServerArgs { store_sqlite_path: Some("".into()), ..Default::default() },
        ServerArgs { store_postgres_pool_size: Some(1), ..Default::default() },
        ServerArgs {
            store_postgres_statement_timeout: Some(Duration::from_micros(10)),
            ..Default::default()
        },
        ServerArgs { log_level: Some("loud".into()), ..Default::default() },
    ];
    let flags = [
        "--api-nats-subject",
        "--api-nats-addr",
        "--api-nats-timeout",
        "--api-nats-max-payload",
        "--api-nats-max-inflight",
        "--api-nats-queue-group",
        "--api-http-addr",
        "--store-sqlite-path",
        "--store-postgres-pool-size",
        "--store-postgres-statement-timeout",
        "--log-level",
    ];
    for (a, expected) in bad.into_iter().zip(flags) {
        let err = load_from(Mode::Serve, &a, None).unwrap_err();
        assert!(matches!(err, ConfigError::ArgValue { .. }), "{a:?}: {err:?}");
        // The names come from clap's declaration of the field.
        let ConfigError::ArgValue { flag, env, .. } = err else { unreachable!() };
        let expected_env = format!("NATSAPI_{}", expected[2..].replace('-', "_").to_uppercase());
        assert_eq!((flag, env), (expected, expected_env.as_str()));
    }
    let err = load_from(
        Mode::Serve,
        &ServerArgs { api_nats_subject: Some("a b".into()), ..Default::default() },
        None,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        r#"invalid value for --api-nats-subject (or NATSAPI_API_NATS_SUBJECT): "a b" is not a valid NATS subject: it contains whitespace or control characters"#
    );
}

#[test]
fn every_flag_declares_its_env_var_and_default() {
    let cmd = Cli::command();
    let mut n = 0;
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" {
            continue;
        }
        n += 1;
        let long = arg.get_long().unwrap_or_else(|| panic!("{id} has no long flag"));
        let env = format!("NATSAPI_{}", long.replace('-', "_").to_ascii_uppercase());
        assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(env.as_str()), "--{long}");
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(help.contains("[default: "), "--{long} help does not state its default: {help}");
    }
    assert_eq!(n, 36, "flag count");

    let help = Cli::command().render_long_help().to_string();
    for needle in [
        "--api-nats-enable[=<BOOL>]",
        "NATSAPI_API_NATS_ENABLE",
        "--store <KIND>",
        "[default: sqlite for `serve`, memory for `dev`]",
        "[default: nats://localhost:4222]",
        "[default: 10s]",
        "[default: 1048576 (1MiB)]",
        "[default: 0.0.0.0:8001]",
        "--worker-threads <N>",
        "NATSAPI_WORKER_THREADS",
        "[default: auto]",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn help_defaults_match_settings_defaults() {
    let d = Settings::defaults(Mode::Serve);
    let help_of = |long: &str| {
        Cli::command()
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_help().map(ToString::to_string))
            .unwrap()
    };
    let expect = [
        ("api-nats-enable", d.api.nats.enabled.to_string()),
        ("api-nats-addr", d.api.nats.addr.clone()),
        ("api-nats-subject", d.api.nats.subject.clone()),
        ("api-nats-timeout", humantime::format_duration(d.api.nats.timeout).to_string()),
        ("api-nats-max-payload", d.api.nats.max_payload.to_string()),
        ("api-nats-max-inflight", d.api.nats.max_inflight.to_string()),
        ("api-nats-queue-group", d.api.nats.queue_group.clone()),
        ("api-http-enable", d.api.http.enabled.to_string()),
        ("api-http-addr", d.api.http.addr.clone()),
        ("poll-enable", d.api.poll.enabled.to_string()),
        ("poll-addr", d.api.poll.addr.clone()),
        ("store-sqlite-path", d.store.sqlite.path.display().to_string()),
        ("store-sqlite-synchronous", "full".to_owned()),
        ("store-postgres-url", "none".to_owned()),
        ("store-postgres-pool-size", d.store.postgres.pool_size.to_string()),
        (
            "store-postgres-statement-timeout",
            d.store.postgres.statement_timeout.map(humantime::format_duration).unwrap().to_string(),
        ),
        ("log-level", DEFAULT_LOG_LEVEL.to_owned()),
        ("log-format", "text".to_owned()),
        ("worker-threads", d.runtime.worker_threads.to_string()),
    ];
    for (long, default) in expect {
        let help = help_of(long);
        assert!(help.contains(&format!("[default: {default}")), "--{long}: {help}");
    }
}

#[test]
fn clap_command_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn example_yaml_parses_to_defaults() {
    for mode in [Mode::Serve, Mode::Dev] {
        let s = load_from(
            mode,
            &ServerArgs::default(),
            Some((Path::new("example.yaml"), example_yaml())),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut expected = Settings::defaults(mode);
        // The file names the addresses and the ingest database: dev must use those.
        for listener in
            [&mut expected.api.http, &mut expected.api.poll, &mut expected.ingest.gateway]
        {
            listener.any_port_if_busy = false;
        }
        expected.ingest.temp_database = false;
        assert_eq!(s, expected);
    }
    // Every key is present (store.kind commented out) and uncommenting it works.
    let uncommented = example_yaml()
        .replace("# kind: sqlite", "kind: sqlite")
        .replace("# url: ", "url: ")
        .replace("  # orders:", "  orders:")
        .replace("  # billing:", "  billing:")
        .replace("  # default:", "  default:")
        .replace("  # level: info", "  level: info");
    assert_ne!(uncommented, example_yaml());
    let parsed = file::parse_file(Path::new("example.yaml"), &uncommented).unwrap();
    let nats = parsed
        .api
        .as_ref()
        .and_then(|a| a.subsystems.as_ref())
        .and_then(|s| s.nats.as_ref())
        .unwrap();
    assert!(
        nats.enabled.is_some()
            && nats.addr.is_some()
            && nats.subject.is_some()
            && nats.timeout.is_some()
    );
    assert!(
        nats.max_payload.is_some() && nats.max_inflight.is_some() && nats.queue_group.is_some()
    );
    let http = parsed
        .api
        .as_ref()
        .and_then(|a| a.subsystems.as_ref())
        .and_then(|s| s.http.as_ref())
        .unwrap();
    assert!(http.enabled.is_some() && http.addr.is_some());
    assert!(
        http.header_read_timeout.is_some()
            && http.idle_timeout.is_some()
            && http.max_connections.is_some()
    );
    let store = parsed.store.as_ref().unwrap();
    assert_eq!(store.kind, Some(StoreKind::Sqlite));
    let sqlite = store.sqlite.as_ref().unwrap();
    assert!(sqlite.path.is_some() && sqlite.synchronous.is_some());
    let postgres = store.postgres.as_ref().unwrap();
    assert!(postgres.url.is_some() && postgres.pool_size.is_some());
    assert_eq!(postgres.statement_timeout, Some(Some(Duration::from_secs(30))));
    let log = parsed.log.as_ref().unwrap();
    assert!(log.level.is_some() && log.format.is_some());
    let runtime = parsed.runtime.as_ref().unwrap();
    assert_eq!(runtime.worker_threads, Some(WorkerThreads::Auto));
    assert_eq!(parsed.targets.as_ref().map(BTreeMap::len), Some(3), "the example targets parse");
    assert_eq!(
        load_from(Mode::Dev, &ServerArgs::default(), Some((Path::new("x.yaml"), &uncommented)))
            .unwrap()
            .store
            .kind,
        StoreKind::Sqlite
    );
}

#[test]
fn worker_threads_resolve() {
    // Auto: half the cores rounded up, at least 1.
    for (cores, threads) in [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (8, 4), (9, 5), (64, 32)] {
        assert_eq!(auto_worker_threads(cores), threads, "{cores} cores");
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(WorkerThreads::Auto.resolve(), cores.div_ceil(2).max(1));
    assert!(WorkerThreads::Auto.resolve() >= 1);
    // Fixed: exactly the count, whatever the machine.
    assert_eq!(fixed(1).resolve(), 1);
    assert_eq!(fixed(7).resolve(), 7);
    assert_eq!(fixed(1024).resolve(), 1024);
}

#[test]
fn worker_threads_display_parses_back() {
    assert_eq!(WorkerThreads::Auto.to_string(), "auto");
    assert_eq!(fixed(3).to_string(), "3");
    assert_eq!(WorkerThreads::default(), WorkerThreads::Auto);
    for w in [WorkerThreads::Auto, fixed(1), fixed(12)] {
        assert_eq!(parse::worker_threads(&w.to_string()), Ok(w));
    }
}

#[test]
fn http_credentials_come_from_the_yaml_and_are_checked() {
    let bearer = "api:\n  subsystems:\n    http:\n      auth:\n        bearer: tok\n";
    let s = from_yaml(Mode::Serve, &[], bearer).unwrap();
    assert_eq!(s.api.http_auth, Some(crate::HttpAuth::Bearer("tok".into())));
    let basic =
        "api:\n  subsystems:\n    http:\n      auth:\n        basic: {username: u, password: p}\n";
    let s = from_yaml(Mode::Serve, &[], basic).unwrap();
    assert_eq!(
        s.api.http_auth,
        Some(crate::HttpAuth::Basic { username: "u".into(), password: "p".into() })
    );
    let both = "api:\n  subsystems:\n    http:\n      auth:\n        bearer: t\n        basic: {username: u, password: p}\n";
    assert!(yaml_err(both).contains("api.subsystems.http.auth"), "{}", yaml_err(both));
    let on_poll = "api:\n  subsystems:\n    poll:\n      auth:\n        bearer: t\n";
    assert!(yaml_err(on_poll).contains("api.subsystems.poll.auth"), "{}", yaml_err(on_poll));
    // The secret never shows in debug output.
    assert!(!format!("{:?}", crate::HttpAuth::Bearer("tok".into())).contains("tok"));
}

#[test]
fn ingest_settings_come_from_the_file_and_bad_values_name_their_key() {
    let yaml = r#"
ingest:
  gateway: { enabled: true, addr: "127.0.0.1:7" }
  worker: { enabled: true, consumer: w1, batchSize: 10, maxAttempts: 2, ackWait: 5s }
  stream: { name: ORDERS, subjectPrefix: orders.in, maxBytes: 1MiB, duplicateWindow: 1m }
  database: /tmp/i.db
  entities:
    order:
      table: orders
      columns:
        - { name: order_id, pointer: /order_id, type: text, required: true }
"#;
    let s = load_from(Mode::Serve, &args(&[]), Some((Path::new("f.yaml"), yaml))).unwrap();
    let i = &s.ingest;
    assert!(i.gateway.enabled && i.worker_enabled);
    assert_eq!(i.gateway.addr, "127.0.0.1:7");
    assert_eq!(i.database, crate::IngestDatabase::Sqlite("/tmp/i.db".into()));
    assert_eq!((i.consumer.as_str(), i.batch_size, i.max_attempts), ("w1", 10, 2));
    assert_eq!(i.ack_wait, Duration::from_secs(5));
    assert_eq!((i.stream.as_str(), i.subject_prefix.as_str()), ("ORDERS", "orders.in"));
    assert_eq!(i.max_bytes, 1 << 20);
    assert_eq!(i.entities["order"].columns[0].kind, "text");
    assert!(i.entities["order"].columns[0].required);
    assert!(!Settings::defaults(Mode::Serve).ingest.gateway.enabled);
    assert!(Settings::defaults(Mode::Dev).ingest.worker_enabled);
    let bad = "ingest:\n  stream: { name: a.b }\n";
    let err = load_from(Mode::Serve, &args(&[]), Some((Path::new("f.yaml"), bad))).unwrap_err();
    assert!(err.to_string().contains("ingest.stream.name"), "{err}");
    // The gateway's rows are the worker's: there is nothing to prune, and no setting for it.
    let gone = "ingest:\n  gateway: { pruneInterval: 5m }\n";
    let err = load_from(Mode::Serve, &args(&[]), Some((Path::new("f.yaml"), gone))).unwrap_err();
    assert!(err.to_string().contains("pruneInterval"), "{err}");
}

#[test]
fn listener_limits_come_from_the_file() {
    let yaml = "api:\n  subsystems:\n    http:\n      headerReadTimeout: 2s\n      \
                idleTimeout: 30s\n      maxConnections: 50\n    poll:\n      idleTimeout: 5m\n\
                ingest:\n  gateway:\n    maxConnections: 7\n    headerReadTimeout: 3s\n";
    let s = from_yaml(Mode::Serve, &[], yaml).unwrap();
    let http = s.api.http.limits;
    assert_eq!(http.header_read_timeout, Duration::from_secs(2));
    assert_eq!(http.idle_timeout, Duration::from_secs(30));
    assert_eq!(http.max_connections, 50);
    assert_eq!(s.api.poll.limits.idle_timeout, Duration::from_secs(300));
    assert_eq!(s.api.poll.limits.max_connections, 1024, "default");
    assert_eq!(s.ingest.gateway.limits.max_connections, 7);
    assert_eq!(s.ingest.gateway.limits.header_read_timeout, Duration::from_secs(3));
    let err = from_yaml(Mode::Serve, &[], "ingest:\n  gateway:\n    idleTimeout: 10ms\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ingest.gateway.idleTimeout") && err.contains("1s"), "{err}");
}

#[test]
fn dev_takes_a_free_port_only_for_a_default_address() {
    let dev = load_from(Mode::Dev, &ServerArgs::default(), None).unwrap();
    assert!(dev.api.http.any_port_if_busy && dev.api.poll.any_port_if_busy);
    assert!(dev.ingest.gateway.any_port_if_busy);
    let serve = load_from(Mode::Serve, &ServerArgs::default(), None).unwrap();
    assert!(!serve.api.http.any_port_if_busy && !serve.ingest.gateway.any_port_if_busy);
    // An address given in a flag (or its variable) or in the file is the one to use.
    let flags = ["--api-http-addr=0.0.0.0:8001", "--ingest-addr=0.0.0.0:8080"];
    let s = load_from(Mode::Dev, &args(&flags), None).unwrap();
    assert!(!s.api.http.any_port_if_busy && !s.ingest.gateway.any_port_if_busy);
    assert!(s.api.poll.any_port_if_busy, "the poll address was not given");
    let yaml = "api:\n  subsystems:\n    poll:\n      addr: 0.0.0.0:8002\n";
    assert!(!from_yaml(Mode::Dev, &[], yaml).unwrap().api.poll.any_port_if_busy);
}

#[test]
fn dev_keeps_its_ingest_data_in_its_temporary_directory_unless_told_otherwise() {
    let dev = |flags: &[&str]| load_from(Mode::Dev, &args(flags), None).unwrap();
    assert!(dev(&[]).ingest.temp_database);
    assert!(!dev(&["--ingest-db=orders.db"]).ingest.temp_database, "a database was named");
    assert!(!dev(&["--store=sqlite"]).ingest.temp_database, "promises kept in a file");
    let yaml = "ingest:\n  database: orders.db\n";
    assert!(!from_yaml(Mode::Dev, &[], yaml).unwrap().ingest.temp_database);
    assert!(!load_from(Mode::Serve, &args(&[]), None).unwrap().ingest.temp_database);
}

#[test]
fn a_log_level_is_set_only_when_given() {
    assert_eq!(load_from(Mode::Serve, &args(&[]), None).unwrap().log.level, None);
    let s = load_from(Mode::Serve, &args(&["--log-level=debug"]), None).unwrap();
    assert_eq!(s.log.level.as_deref(), Some("debug"));
    let s = from_yaml(Mode::Serve, &["--log-level=warn"], "log:\n  level: debug\n").unwrap();
    assert_eq!(s.log.level.as_deref(), Some("warn"), "the flag beats the file");
}
