//! Integration tests: test databases on the real PostgreSQL server the tests are pointed at
//! (`NATSAPI_TEST_POSTGRES_URL`, else 127.0.0.1:5432; `scripts/test` provides one).

use natsapi_testkit::{PostgresUrl, TEST_DATABASE_PREFIX, TestDatabase};
use postgres::{Client, NoTls};

fn create() -> TestDatabase {
    TestDatabase::create().unwrap_or_else(|e| panic!("{e}"))
}

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("connecting to a test database: {e}"))
}

/// A connection to the server's admin database (the one the test databases were created from).
fn admin(admin_url: &PostgresUrl) -> Client {
    connect(&admin_url.url())
}

/// How many databases on the server carry one of `names`, as `pg_database` lists them.
fn count_databases(admin: &mut Client, names: &[&str]) -> i64 {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    admin
        .query_one("SELECT count(*) FROM pg_database WHERE datname = ANY($1)", &[&names])
        .expect("query pg_database")
        .get(0)
}

#[test]
fn two_databases_are_distinct_and_gone_after_drop() {
    let a = create();
    let b = create();
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with(TEST_DATABASE_PREFIX), "{}", a.name());
    assert_ne!(a.url(), b.url());

    let mut on_a = connect(a.url());
    let mut on_b = connect(b.url());
    let current_a: String = on_a.query_one("SELECT current_database()", &[]).expect("q").get(0);
    let current_b: String = on_b.query_one("SELECT current_database()", &[]).expect("q").get(0);
    assert_eq!(current_a, a.name());
    assert_eq!(current_b, b.name());

    // A table made in one is not in the other.
    on_a.batch_execute("CREATE TABLE only_in_a (id int); INSERT INTO only_in_a VALUES (7)")
        .expect("create table");
    let seen_in_a: i32 = on_a.query_one("SELECT id FROM only_in_a", &[]).expect("q").get(0);
    assert_eq!(seen_in_a, 7);
    let in_b: Option<String> =
        on_b.query_one("SELECT to_regclass('only_in_a')::text", &[]).expect("to_regclass").get(0);
    assert_eq!(in_b, None, "the table leaked into the other database");
    drop((on_a, on_b));

    let mut server = admin(a.admin_url());
    let names = [a.name().to_owned(), b.name().to_owned()];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(count_databases(&mut server, &names), 2);
    drop(a);
    assert_eq!(count_databases(&mut server, &names), 1);
    b.drop_database().expect("drop b");
    assert_eq!(count_databases(&mut server, &names), 0);
}

#[test]
fn a_database_with_an_open_connection_is_dropped() {
    let db = create();
    let name = db.name().to_owned();
    let mut server = admin(db.admin_url());
    let mut still_open = connect(db.url());
    still_open.batch_execute("CREATE TABLE t (id int)").expect("create table");

    db.drop_database().expect("DROP DATABASE .. WITH (FORCE) despite the open connection");
    assert_eq!(count_databases(&mut server, &[&name]), 0);
    // The server ended that session.
    assert!(still_open.simple_query("SELECT 1").is_err(), "the old session still works");
}

#[test]
fn a_database_is_dropped_when_the_test_panics() {
    let mut name = String::new();
    let mut admin_url = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let db = create();
        name = db.name().to_owned();
        admin_url = Some(db.admin_url().clone());
        let _open = connect(db.url());
        panic!("the test failed");
    }));
    assert!(outcome.is_err(), "the closure panicked");
    let admin_url = admin_url.expect("the database was created before the panic");
    assert_eq!(count_databases(&mut admin(&admin_url), &[&name]), 0);
}

#[test]
fn the_url_is_a_postgres_url_with_the_servers_user() {
    let db = create();
    assert!(db.url().starts_with("postgres://"), "{}", db.url());
    let url = PostgresUrl::parse(db.url(), "url()").expect("parses");
    assert_eq!(url.dbname(), Some(db.name()));
    assert_eq!(url.config().get_user(), db.admin_url().config().get_user());
    assert_eq!(url.config().get_hosts(), db.admin_url().config().get_hosts());
    assert_eq!(url.config().get_ports(), db.admin_url().config().get_ports());
    let mut client = connect(db.url());
    let user: String = client.query_one("SELECT current_user::text", &[]).expect("q").get(0);
    assert_eq!(Some(user.as_str()), db.admin_url().config().get_user());
}

/// The sync driver panics when used on a runtime thread; TestDatabase must not.
async fn create_and_drop_inside_a_runtime() {
    let db = TestDatabase::create().unwrap_or_else(|e| panic!("{e}"));
    let (name, admin_url, url) =
        (db.name().to_owned(), db.admin_url().clone(), db.url().to_owned());
    let names = vec![name.clone()];
    let count = move |admin_url: PostgresUrl, names: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            count_databases(&mut admin(&admin_url), &names)
        })
    };
    let current: String = tokio::task::spawn_blocking(move || {
        connect(&url).query_one("SELECT current_database()", &[]).expect("q").get(0)
    })
    .await
    .expect("blocking task");
    assert_eq!(current, name);
    drop(db); // on the runtime thread
    assert_eq!(count(admin_url, names).await.expect("blocking task"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn works_inside_a_current_thread_runtime() {
    create_and_drop_inside_a_runtime().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_multi_thread_runtime() {
    create_and_drop_inside_a_runtime().await;
}

/// Where psql is: on PATH, else Debian's versioned directories (as scripts/postgres.sh looks).
fn psql() -> std::path::PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|dir| dir.join("psql")).find(|p| p.is_file())
    });
    let debian = || {
        let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|entry| entry.path().join("bin").join("psql"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    };
    on_path.or_else(debian).expect(
        "psql not found (scripts/test installs it; Debian: apt-get install -y postgresql-client)",
    )
}

/// A role with characters that must be percent-encoded in a URL; dropped on drop (after the
/// databases it owns, which are declared after it).
struct OddRole {
    admin: PostgresUrl,
    name: String,
}

impl OddRole {
    fn create(admin: &PostgresUrl) -> Self {
        let name = format!("natsapi test@role:{}/{}", std::process::id(), line!());
        let sql = format!(
            "CREATE ROLE \"{name}\" LOGIN CREATEDB PASSWORD 'p@ss w:rd/?#%'",
            name = name.replace('"', "\"\"")
        );
        connect(&admin.url()).batch_execute(&sql).expect("create role");
        Self { admin: admin.clone(), name }
    }
}

impl Drop for OddRole {
    fn drop(&mut self) {
        let sql = format!("DROP ROLE IF EXISTS \"{}\"", self.name.replace('"', "\"\""));
        if let Err(e) = connect(&self.admin.url()).batch_execute(&sql) {
            eprintln!("dropping role {}: {e}", self.name);
        }
    }
}

#[test]
fn psql_reads_the_url_with_an_odd_user_and_password() {
    let first = create();
    let role = OddRole::create(first.admin_url());
    let mut as_role = first.admin_url().config().clone();
    as_role.user(&role.name).password("p@ss w:rd/?#%");
    let db = TestDatabase::create_on(&PostgresUrl::from(as_role).url())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(db.url().contains("natsapi%20test%40role%3A"), "{}", db.url());

    let output = std::process::Command::new(psql())
        .args(["-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg("-c")
        .arg("SELECT current_user || '|' || current_database()")
        .arg(db.url())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run psql");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "psql: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.trim(), format!("{}|{}", role.name, db.name()));
    drop(db);
    drop(role);
}
