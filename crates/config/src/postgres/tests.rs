//! The PostgreSQL store settings: the two forms of connection string, the errors that name what
//! is wrong without quoting a password, the masking in `Debug` and `Display`, precedence of flags
//! over the file over the defaults, the URL a postgres store requires, and the ingest roles'
//! share of the flags. The environment variables are tested in `tests/env.rs`.

use std::path::Path;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::{
    ConfigError, GatewayArgs, Mode, PostgresUrl, ServerArgs, Settings, StoreKind, WorkerArgs,
    load_from,
};

#[derive(Parser, Debug)]
#[command(name = "natsapi")]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

/// The password every secret-bearing example uses; no output may contain it.
const SECRET: &str = "s3cret";

fn parse(flags: &[&str]) -> Result<ServerArgs, String> {
    let argv = std::iter::once("natsapi").chain(flags.iter().copied());
    Cli::try_parse_from(argv).map(|cli| cli.args).map_err(|e| e.to_string())
}

fn load(mode: Mode, flags: &[&str], yaml: Option<&str>) -> Result<Settings, ConfigError> {
    let args = parse(flags).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
    load_from(mode, &args, yaml.map(|text| (Path::new("natsapi.yaml"), text)))
}

fn url(s: &str) -> PostgresUrl {
    PostgresUrl::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn both_forms_of_connection_string_are_accepted_as_given() {
    for ok in [
        "postgres://natsapi:s3cret@db:5432/natsapi",
        "postgresql://db/natsapi?sslmode=require&application_name=natsapi",
        "postgres://u@h1:5432,h2:5433,[::1]:5434/db",
        "postgres://[2001:db8::1]/db",
        "postgres://",
        "postgres:///natsapi?host=/var/run/postgresql",
        "postgresql://%2Fvar%2Frun%2Fpostgresql/natsapi",
        "postgres://u:p%40ss@h",
        "host=localhost port=5432 user=natsapi dbname=natsapi",
        "host = db  password = 'with space and \\' quote'",
        "dbname=natsapi options='-c search_path=natsapi'",
        "host=db password=unquoted\\ space",
        "host=db password=''",
        "dbname=ünïcode",
    ] {
        assert_eq!(url(ok).expose(), ok);
    }
    assert_eq!(url("  host=db\n").expose(), "host=db", "surrounding whitespace is removed");
}

#[test]
fn each_malformed_string_is_refused_with_its_reason_and_no_password() {
    let cases = [
        ("", "must not be empty"),
        ("  ", "must not be empty"),
        (
            "mysql://u:s3cret@h/db",
            r#"URL has the scheme "mysql"; use postgres:// or postgresql://"#,
        ),
        ("POSTGRES://u:s3cret@h/db", r#"has the scheme "POSTGRES""#),
        ("postgres://u:s3 cret@h", "contains whitespace or control characters"),
        ("postgres://u:s3cret@h:port/db", "has a port that is not a number from 1 to 65535"),
        ("postgres://u:s3cret/x@h:5432", "has an @ or / in its user or password; percent-encode"),
        ("postgres://u:s3c@ret@h/db", "has an @ or / in its user or password"),
        ("postgres://h:0/db", "has a port that is not a number"),
        ("postgres://h:70000/db", "has a port that is not a number"),
        ("postgres://h:/db", "has a port that is not a number"),
        ("postgres://h1,,h2/db", "has an empty entry in its host list"),
        ("postgres://:5432/db", "has a port without a host"),
        ("postgres://::1/db", "has an IPv6 host outside brackets"),
        ("postgres://[::1/db", "without its closing ]"),
        ("postgres://[::1]x/db", "has text after an IPv6 host's ]"),
        ("postgres://h/db?sslmode", "has a query parameter that is not key=value"),
        ("postgres://h/db?=s3cret", "has a query parameter that is not key=value"),
        ("postgres://h/db?password=s3cret&", "has a query parameter that is not key=value"),
        ("localhost:5432", "neither a postgres:// or postgresql:// URL nor key=value pairs"),
        ("s3cret", "neither a postgres:// or postgresql:// URL nor key=value pairs"),
        ("host=db s3cret", "word 2 is not key=value"),
        ("host=db password s3cret", "word 2 is not key=value"),
        ("host=db password='s3cret", r#"quoted value of "password" has no closing '"#),
        ("host=", r#""host" has no value (write host='' for an empty one)"#),
        ("=s3cret", "pair 1 has no keyword (letters, digits and _) before its ="),
        ("host=db pass-word=s3cret", "pair 2 has no keyword"),
    ];
    for (input, reason) in cases {
        let err = PostgresUrl::parse(input).unwrap_err();
        assert!(err.contains(reason), "{input:?}: {err}");
        assert!(err.starts_with("the PostgreSQL "), "{input:?}: {err}");
        assert!(!err.contains(SECRET), "{input:?} leaks its password: {err}");
    }
}

#[test]
fn passwords_are_masked_in_display_and_debug() {
    let cases = [
        ("postgres://natsapi:s3cret@db:5432/natsapi", "postgres://natsapi:****@db:5432/natsapi"),
        (
            "postgresql://u:s3cret@h1,h2:5433/db?sslmode=require&password=s3cret",
            "postgresql://u:****@h1,h2:5433/db?sslmode=require&password=****",
        ),
        ("postgres://u:s3c:ret@h", "postgres://u:****@h"),
        (
            "postgres://h/db?PassWord=s3cret&passfile=/p",
            "postgres://h/db?PassWord=****&passfile=****",
        ),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgres://u:@h/db?password=", "postgres://u:@h/db?password="),
        (
            "host=db user=natsapi password=s3cret dbname=natsapi",
            "host=db user=natsapi password=**** dbname=natsapi",
        ),
        ("password = 's3 cr\\'et' host=db", "password = '****' host=db"),
        ("PASSWORD=s3\\ cret passfile=/home/u/.pgpass", "PASSWORD=**** passfile=****"),
        ("host=db password=''", "host=db password=''"),
    ];
    for (input, shown) in cases {
        let u = url(input);
        assert_eq!(u.to_string(), shown, "{input:?}");
        assert_eq!(format!("{u:?}"), format!("PostgresUrl({shown:?})"));
        assert_eq!(u.expose(), input, "the driver gets the password");
    }
}

#[test]
fn the_settings_never_show_the_password() {
    let flag = format!("--store-postgres-url=postgres://natsapi:{SECRET}@db/natsapi");
    let args = parse(&["--store=postgres", &flag]).unwrap();
    assert!(!format!("{args:?}").contains(SECRET), "{args:?}");
    let s = load(Mode::Serve, &["--store=postgres", &flag], None).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains(SECRET) && shown.contains("natsapi:****@db"), "{shown}");
    assert!(!format!("{:#?}", s.store).contains(SECRET));
    let yaml = format!("store:\n  postgres:\n    url: host=db password={SECRET}\n");
    let s = load(Mode::Serve, &[], Some(&yaml)).unwrap();
    assert!(!format!("{s:?}").contains(SECRET));
    assert_eq!(s.store.postgres.url.unwrap().expose(), format!("host=db password={SECRET}"));
}

#[test]
fn errors_name_the_flag_or_key_and_never_quote_the_password() {
    let err =
        parse(&[&format!("--store-postgres-url=mysql://natsapi:{SECRET}@db/natsapi")]).unwrap_err();
    assert!(
        err.contains("invalid value for '--store-postgres-url <URL>': the PostgreSQL URL has the scheme \"mysql\""),
        "{err}"
    );
    for bad in [
        format!("postgres://u:{SECRET}@db:port"),
        format!("host=db password='{SECRET}"),
        format!("postgres://u:{SECRET} x@db"),
        SECRET.to_owned(),
    ] {
        let err = parse(&[&format!("--store-postgres-url={bad}")]).unwrap_err();
        assert!(err.contains("--store-postgres-url"), "{bad:?}: {err}");
        assert!(!err.contains(SECRET), "{bad:?} leaks: {err}");
        let yaml = format!("store:\n  postgres:\n    url: \"{bad}\"\n");
        let err = load(Mode::Serve, &[], Some(&yaml)).unwrap_err();
        assert!(
            matches!(&err, ConfigError::FileValue { key, line: Some(3), .. } if key == "store.postgres.url"),
            "{bad:?}: {err:?}"
        );
        assert!(!err.to_string().contains(SECRET), "{bad:?} leaks: {err}");
        assert!(!format!("{err:?}").contains(SECRET), "{bad:?} leaks: {err:?}");
    }
}

#[test]
fn a_postgres_store_requires_its_url_naming_flag_variable_and_key() {
    let expected = "the postgres store (--store, NATSAPI_STORE or store.kind) needs a connection \
                    URL: set --store-postgres-url, NATSAPI_STORE_POSTGRES_URL or \
                    store.postgres.url in the configuration file";
    for mode in [Mode::Serve, Mode::Dev] {
        let err = load(mode, &["--store=postgres"], None).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { .. }), "{err:?}");
        assert_eq!(err.to_string(), expected);
        let err = load(mode, &[], Some("store:\n  kind: postgres\n")).unwrap_err();
        assert_eq!(err.to_string(), expected);
        // Tuning without a URL is not enough.
        let tuned = "store:\n  kind: postgres\n  postgres: { poolSize: 4 }\n";
        assert_eq!(load(mode, &[], Some(tuned)).unwrap_err().to_string(), expected);
    }
    // The alias reads in the file too.
    let err = load(Mode::Serve, &[], Some("store: {kind: PostgreSQL}\n")).unwrap_err();
    assert_eq!(err.to_string(), expected);
    // The URL may come from another source than the kind.
    let yaml = "store:\n  postgres:\n    url: postgres://db/natsapi\n";
    let s = load(Mode::Dev, &["--store=postgres"], Some(yaml)).unwrap();
    assert_eq!(s.store.kind, StoreKind::Postgres);
    let s = load(Mode::Serve, &["--store-postgres-url=host=db"], Some("store: {kind: postgres}\n"))
        .unwrap();
    assert_eq!(s.store.postgres.url.as_ref().map(PostgresUrl::expose), Some("host=db"));
    // A URL for another kind of store is kept, unused, as SQLite's settings are under memory.
    let s = load(Mode::Serve, &["--store-postgres-url=host=db"], None).unwrap();
    assert_eq!(s.store.kind, StoreKind::Sqlite);
    assert!(s.store.postgres.url.is_some());
    // Durable promises, durable ingest data (dev's temporary directory is for memory only).
    let s = load(Mode::Dev, &["--store=postgres", "--store-postgres-url=host=db"], None).unwrap();
    assert!(!s.ingest.temp_database);
}

#[test]
fn flag_beats_file_beats_default() {
    let yaml = "store:\n  postgres:\n    url: postgres://file@db/natsapi\n    poolSize: 5\n    \
                statementTimeout: 10s\n";
    let d = Settings::defaults(Mode::Serve).store.postgres;
    assert_eq!((d.url, d.pool_size, d.statement_timeout), (None, 8, Some(Duration::from_secs(30))));
    let pg = load(Mode::Serve, &[], Some(yaml)).unwrap().store.postgres;
    assert_eq!(pg.url, Some(url("postgres://file@db/natsapi")), "file beats default");
    assert_eq!((pg.pool_size, pg.statement_timeout), (5, Some(Duration::from_secs(10))));
    let flags = [
        "--store-postgres-url=postgres://flag@db/natsapi",
        "--store-postgres-pool-size=6",
        "--store-postgres-statement-timeout=off",
    ];
    let pg = load(Mode::Serve, &flags, Some(yaml)).unwrap().store.postgres;
    assert_eq!(pg.url, Some(url("postgres://flag@db/natsapi")), "flag beats file");
    assert_eq!((pg.pool_size, pg.statement_timeout), (6, None), "flag beats file");
    // Each setting on its own: the others keep the file's values.
    let pg = load(Mode::Serve, &["--store-postgres-pool-size=2"], Some(yaml)).unwrap();
    let pg = pg.store.postgres;
    assert_eq!(pg.url, Some(url("postgres://file@db/natsapi")));
    assert_eq!((pg.pool_size, pg.statement_timeout), (2, Some(Duration::from_secs(10))));
    // `off` in the file, a timeout in a flag, and zero as a synonym of off.
    let off = "store:\n  postgres:\n    statementTimeout: off\n";
    assert_eq!(load(Mode::Serve, &[], Some(off)).unwrap().store.postgres.statement_timeout, None);
    let s = load(Mode::Serve, &["--store-postgres-statement-timeout=250ms"], Some(off)).unwrap();
    assert_eq!(s.store.postgres.statement_timeout, Some(Duration::from_millis(250)));
    let zero = "store:\n  postgres:\n    statementTimeout: 0\n";
    assert_eq!(load(Mode::Serve, &[], Some(zero)).unwrap().store.postgres.statement_timeout, None);
    let s = load(Mode::Serve, &["--store-postgres-statement-timeout=0s"], None).unwrap();
    assert_eq!(s.store.postgres.statement_timeout, None);
}

#[test]
fn the_file_keys_are_camel_case_like_the_rest_of_the_file() {
    let err = load(Mode::Serve, &[], Some("store:\n  postgres:\n    pool_size: 4\n")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(r#"unknown key "store.postgres.pool_size" (expected one of: url, poolSize, statementTimeout)"#),
        "{msg}"
    );
}

#[test]
fn help_documents_the_flags_and_hides_the_variable_value() {
    let help = Cli::command().render_long_help().to_string();
    for needle in [
        "--store-postgres-url <URL>",
        "NATSAPI_STORE_POSTGRES_URL",
        "--store-postgres-pool-size <N>",
        "at least 2 [default: 8]",
        "--store-postgres-statement-timeout <DURATION>",
        "off (or 0) for no limit [default: 30s]",
        "- postgres: In a PostgreSQL database (its URL is required); also spelt `postgresql`",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
    let url_arg = Cli::command()
        .get_arguments()
        .find(|a| a.get_id() == "store_postgres_url")
        .map(clap::Arg::is_hide_env_values_set);
    assert_eq!(url_arg, Some(true), "--help never prints the variable's value");
}

/// The standalone ingest roles, as the binary declares them.
#[derive(Debug, Parser)]
enum Roles {
    Worker(WorkerArgs),
    Ingest(GatewayArgs),
}

#[test]
fn the_ingest_roles_take_the_pool_and_timeout_but_not_the_store() {
    for role in ["worker", "ingest"] {
        let mut cli = Roles::command();
        let help = cli.find_subcommand_mut(role).unwrap().render_long_help().to_string();
        assert!(help.contains("--store-postgres-pool-size"), "{role}:\n{help}");
        assert!(help.contains("--store-postgres-statement-timeout"), "{role}:\n{help}");
        assert!(!help.contains("--store-postgres-url") && !help.contains("--store "), "{help}");
        let argv = ["natsapi", role, "--store-postgres-pool-size=3"];
        let args = match Roles::try_parse_from(argv).unwrap() {
            Roles::Worker(WorkerArgs(args)) | Roles::Ingest(GatewayArgs(args)) => args,
        };
        assert_eq!(args.store_postgres_pool_size, Some(3));
        let err = Roles::try_parse_from(["natsapi", role, "--store-postgres-url=host=db"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("--store-postgres-url is not an option of `natsapi {role}`"))
        );
    }
}

#[test]
fn the_ingest_tables_go_to_the_postgres_store_unless_another_database_is_named() {
    use crate::IngestDatabase;
    let pg = ["--store=postgres", "--store-postgres-url=postgres://u:s3cret@db/natsapi"];
    for mode in [Mode::Serve, Mode::Dev] {
        let s = load(mode, &pg, None).unwrap();
        assert_eq!(
            s.ingest.database,
            IngestDatabase::Postgres(url("postgres://u:s3cret@db/natsapi"))
        );
        assert!(!s.ingest.temp_database);
    }
    // Named by a flag (a file or a URL) or in the file: that one.
    let file = load(Mode::Serve, &[pg[0], pg[1], "--ingest-db=i.db"], None).unwrap();
    assert_eq!(file.ingest.database, IngestDatabase::Sqlite("i.db".into()));
    let other = "--ingest-db=postgresql://ingest@db2/ingest";
    let s = load(Mode::Serve, &[pg[0], pg[1], other], None).unwrap();
    assert_eq!(s.ingest.database, IngestDatabase::Postgres(url("postgresql://ingest@db2/ingest")));
    let yaml = "ingest:\n  database: natsapi-ingest.db\n";
    let s = load(Mode::Serve, &pg, Some(yaml)).unwrap();
    assert_eq!(s.ingest.database, IngestDatabase::Sqlite("natsapi-ingest.db".into()));
    // A SQLite store keeps the ingest file; a URL for the ingest tables alone works with it too.
    let s = load(Mode::Serve, &[], None).unwrap();
    assert_eq!(s.ingest.database, IngestDatabase::Sqlite(crate::DEFAULT_INGEST_DB.into()));
    let yaml = "ingest:\n  database: postgres://ingest:s3cret@db/ingest\n";
    let s = load(Mode::Serve, &[], Some(yaml)).unwrap();
    assert!(matches!(s.ingest.database, IngestDatabase::Postgres(_)));
    assert!(!format!("{s:?}").contains(SECRET), "the password shows in the settings");
    // A bad URL names the flag or key, never the password.
    let err = parse(&["--ingest-db=postgres://u:s3cret@db:nope/x"]).unwrap_err();
    assert!(err.contains("--ingest-db") && !err.contains(SECRET), "{err}");
    let bad = "ingest:\n  database: postgres://u:s3cret@db:nope/x\n";
    let err = load(Mode::Serve, &[], Some(bad)).unwrap_err().to_string();
    assert!(err.contains("ingest.database") && !err.contains(SECRET), "{err}");
}
