//! `natsapi bench`: drives `promises.create` (unique ids) and `promises.read` over NATS at a fixed
//! concurrency and prints ops/s and p50/p99 beside a trivial echo responder measured in the same
//! run on the same nats-server. The server and the echo responder run as child processes, so the
//! resident memory of `natsapi serve` is measured too.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use natsapi_client::ConnectionSettings;
use natsapi_config::WorkerThreads;
use natsapi_testkit::{KillOnDrop, NatsServer, TestDatabase};

/// Options of `natsapi bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// NATS server URL; when absent a nats-server is started on a free port.
    #[arg(long)]
    server: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured requests per run (also the number of promises created).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Unmeasured requests before each run.
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
    /// Store of the server under test: memory, sqlite, or postgres (which runs the SQLite store
    /// too, for comparison in the same run).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// With `--store postgres`: a PostgreSQL server (a role allowed to CREATE DATABASE) where the
    /// bench creates a database of its own and drops it afterwards.
    #[arg(long, env = "NATSAPI_STORE_POSTGRES_URL", hide_env_values = true, value_parser = natsapi_config::parse::postgres_url)]
    store_postgres_url: Option<natsapi_config::PostgresUrl>,
    /// SQLite durability: full (fsync per group commit) or normal.
    #[arg(long, default_value = "full")]
    sqlite_synchronous: String,
    /// Tokio worker threads of both the server under test and the echo baseline: a positive
    /// integer, or auto (half the cores rounded up, as `natsapi serve` defaults to).
    #[arg(long, default_value = "auto", value_parser = natsapi_config::parse::worker_threads)]
    worker_threads: WorkerThreads,
    /// What to measure: api (promises.create/read against a NATS echo responder) or ingest
    /// (the ingest gateway and worker against raw JetStream publish).
    #[arg(long, value_enum, default_value_t = Suite::Api)]
    suite: Suite,
    /// Lines per request in the ingest suite's batch run.
    #[arg(long, default_value_t = 1000)]
    batch_lines: usize,
    /// Ingest suite: run no worker, to measure the gateway alone.
    #[arg(long)]
    gateway_only: bool,
    /// Ingest suite: the ingest database of the gateway and the worker, a SQLite file or a
    /// postgres:// URL (its tables must not exist yet, or hold nothing the bench minds); default
    /// a SQLite file in a temporary directory.
    #[arg(long, value_name = "PATH|URL")]
    ingest_db: Option<String>,
    /// Ingest suite: how many times the gateway runs repeat, each round beside raw publishing
    /// measured in that round; the table shows each run's median round and the spread.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Credentials and TLS for the NATS server given with --server, as for `natsapi serve`;
    /// the bench's processes all connect with them.
    #[command(flatten)]
    connection: natsapi_config::ConnectArgs,
}

/// The benchmark suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// The promise API over NATS.
    Api,
    /// The ingest gateway and worker.
    Ingest,
}

const ECHO_SUBJECT: &str = "natsapi.bench.echo";
const API_SUBJECT: &str = "natsapi.bench.api";

/// Latency and throughput of one run.
struct RunStats {
    ops_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    errors: usize,
    /// CPU time the responder process spent per request, in µs.
    responder_cpu_us: Option<f64>,
}

/// Starts `natsapi ARGS` with the bench's NATS connection settings (in its environment, so a
/// token stays out of the process list), and none inherited.
pub(super) fn spawn_self(
    args: &[&str],
    connection: &ConnectionSettings,
) -> anyhow::Result<KillOnDrop> {
    let exe = std::env::current_exe().context("cannot find the natsapi executable")?;
    let mut command = Command::new(exe);
    for name in natsapi_config::CONNECTION_ENV {
        command.env_remove(name);
    }
    let child = command
        .envs(natsapi_config::child_env(connection))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        // Quiet unless the caller asks for the children's logs with RUST_LOG.
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .spawn()
        .with_context(|| format!("cannot start natsapi {}", args.join(" ")))?;
    Ok(KillOnDrop(child))
}

/// Resident memory of a process in MiB, from /proc (Linux).
pub(super) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn create_request(run: &str, i: usize) -> Bytes {
    Bytes::from(format!(
        r#"{{"operation":"promises.create","payload":{{"id":"bench-{run}-{i}","timeout":3600000,"param":{{"headers":{{}},"data":"eyJhcmdzIjpbMSwyLDNdfQ=="}},"tags":{{"bench":"true"}}}}}}"#
    ))
}

fn read_request(run: &str, i: usize) -> Bytes {
    Bytes::from(format!(r#"{{"operation":"promises.read","payload":{{"id":"bench-{run}-{i}"}}}}"#))
}

/// Sends `total` requests, `concurrency` at a time, and records each round trip.
async fn drive(
    client: &async_nats::Client,
    subject: &'static str,
    total: usize,
    concurrency: usize,
    make: impl Fn(usize) -> Bytes,
    expect_success: bool,
) -> anyhow::Result<RunStats> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut inflight = FuturesUnordered::new();
    let mut next = 0;
    let mut errors = 0;
    let started = Instant::now();
    while next < total || !inflight.is_empty() {
        while next < total && inflight.len() < concurrency {
            let payload = make(next);
            let client = client.clone();
            inflight.push(async move {
                let sent = Instant::now();
                let reply = client.request(subject, payload).await;
                (sent.elapsed(), reply)
            });
            next += 1;
        }
        if let Some((elapsed, reply)) = inflight.next().await {
            histogram.saturating_record(elapsed.as_micros() as u64);
            match reply {
                Ok(m) if !expect_success || m.payload.starts_with(b"{\"success\":true") => {}
                _ => errors += 1,
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(RunStats {
        ops_per_sec: total as f64 / seconds,
        p50_us: histogram.value_at_quantile(0.50),
        p99_us: histogram.value_at_quantile(0.99),
        errors,
        responder_cpu_us: None,
    })
}

/// CPU time (user + system, all threads) a process has used, in µs, from /proc (Linux reports
/// it in USER_HZ = 100 ticks per second).
pub(super) fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000.0)
}

/// Runs [`drive`] and charges the responder process's CPU time to the run.
async fn measured(
    responder: u32,
    run: impl std::future::Future<Output = anyhow::Result<RunStats>>,
    requests: usize,
) -> anyhow::Result<RunStats> {
    let before = cpu_us(responder);
    let mut stats = run.await?;
    if let (Some(before), Some(after)) = (before, cpu_us(responder)) {
        stats.responder_cpu_us = Some((after - before) / requests as f64);
    }
    Ok(stats)
}

async fn wait_ready(client: &async_nats::Client, subject: &'static str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = Bytes::from_static(br#"{"operation":"promises.read","payload":{"id":"probe"}}"#);
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_millis(500),
            client.request(subject, probe.clone()),
        )
        .await;
        if let Ok(Ok(_)) = attempt {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing answered on {subject} within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_row(name: &str, stats: &RunStats, baseline: &RunStats) {
    println!(
        "{name:<18} {:>10.0} {:>10} {:>10} {:>8.0}% {:>8.2}x {:>10} {:>7}",
        stats.ops_per_sec,
        stats.p50_us,
        stats.p99_us,
        100.0 * stats.ops_per_sec / baseline.ops_per_sec,
        stats.p99_us as f64 / baseline.p99_us.max(1) as f64,
        stats.responder_cpu_us.map_or("n/a".to_owned(), |us| format!("{us:.1}")),
        stats.errors,
    );
}

/// Runs the benchmark and prints the table.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.suite == Suite::Ingest {
        return super::bench_ingest::run(&super::bench_ingest::IngestBench {
            server: args.server.clone(),
            connection: args.connection.clone(),
            concurrency: args.concurrency,
            requests: args.requests,
            warmup: args.warmup,
            batch_lines: args.batch_lines,
            sqlite_synchronous: args.sqlite_synchronous.clone(),
            worker_threads: args.worker_threads.resolve(),
            gateway_only: args.gateway_only,
            rounds: args.rounds,
            ingest_db: args.ingest_db.clone(),
        });
    }
    let (_nats, url, connection) = nats_for_bench(args.server.as_deref(), &args.connection)?;
    let dir = tempfile::tempdir()?;
    let stores = stores_under_test(&args, &dir)?;
    // Resolved here, so every child gets the same count even if they would see different cores.
    let threads = args.worker_threads.resolve().to_string();
    let echo_child = spawn_self(
        &["echo", "--server", &url, "--subject", ECHO_SUBJECT, "--worker-threads", &threads],
        &connection,
    )?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = connection
            .connect_options(&url)?
            .request_timeout(Some(Duration::from_secs(30)))
            .connect(&url)
            .await
            .with_context(|| {
                format!(
                    "cannot connect to NATS at {}",
                    natsapi_client::connection::redact_addr(&url)
                )
            })?;
        wait_ready(&client, ECHO_SUBJECT).await?;
        let (n, c) = (args.requests, args.concurrency);

        drive(&client, ECHO_SUBJECT, args.warmup, c, |i| create_request("warm", i), false).await?;
        let echo_pid = echo_child.0.id();
        let echo = drive(&client, ECHO_SUBJECT, n, c, |i| create_request("echo", i), false);
        let echo = measured(echo_pid, echo, n).await?;

        let mut results = Vec::new();
        for store in &stores {
            // One server at a time: the servers under test never share the cores.
            let mut serve = vec![
                "serve",
                "--api-nats-addr",
                &url,
                "--api-nats-subject",
                API_SUBJECT,
                "--api-http-enable=false",
                "--poll-enable=false",
                "--worker-threads",
                &threads,
            ];
            serve.extend(store.flags.iter().map(String::as_str));
            let server = spawn_self(&serve, &connection)?;
            let server_pid = server.0.id();
            wait_ready(&client, API_SUBJECT).await?;
            let idle_rss = rss_mib(server_pid);

            drive(&client, API_SUBJECT, args.warmup, c, |i| create_request("warm", i), true)
                .await?;
            let create = drive(&client, API_SUBJECT, n, c, |i| create_request("run", i), true);
            let create = measured(server_pid, create, n).await?;
            let loaded_rss = rss_mib(server_pid);

            drive(&client, API_SUBJECT, args.warmup, c, |i| read_request("warm", i), true).await?;
            let read = drive(&client, API_SUBJECT, n, c, |i| read_request("run", i), true);
            let read = measured(server_pid, read, n).await?;
            drop(server);
            results.push((store.name, create, read, idle_rss, loaded_rss));
        }

        println!(
            "natsapi bench: {n} requests per run, {c} in flight, stores {} (SQLite \
             synchronous={}), {threads} worker thread(s) (--worker-threads {}), NATS at {url}",
            stores.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
            args.sqlite_synchronous,
            args.worker_threads,
            url = natsapi_client::connection::redact_addr(&url),
        );
        println!(
            "{:<20} {:>10} {:>10} {:>10} {:>9} {:>9} {:>10} {:>7}",
            "run", "ops/s", "p50 µs", "p99 µs", "of echo", "p99/echo", "cpu µs/req", "errors"
        );
        print_row("echo (baseline)", &echo, &echo);
        let mut errors = 0;
        for (name, create, read, _, _) in &results {
            print_row(&format!("create ({name})"), create, &echo);
            print_row(&format!("read ({name})"), read, &echo);
            errors += create.errors + read.errors;
        }
        if let [(first, create_a, read_a, ..), (second, create_b, read_b, ..)] = &results[..] {
            println!(
                "{second} of {first}: create {:.0}%, read {:.0}%",
                100.0 * create_b.ops_per_sec / create_a.ops_per_sec,
                100.0 * read_b.ops_per_sec / read_a.ops_per_sec,
            );
        }
        let mib = |v: &Option<f64>| v.map_or("n/a".to_owned(), |m| format!("{m:.1} MiB"));
        for (name, _, _, idle, loaded) in &results {
            println!(
                "natsapi serve RSS ({name}): idle {}; with {} promises stored {}",
                mib(idle),
                n + args.warmup,
                mib(loaded)
            );
        }
        if errors > 0 {
            bail!("{errors} requests failed");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A store the bench runs a server on: its name and `natsapi serve`'s flags for it.
struct StoreUnderTest {
    name: &'static str,
    flags: Vec<String>,
    /// A PostgreSQL database of the bench's own, dropped at the end.
    _database: Option<TestDatabase>,
}

/// The stores `--store` asks for: the one named, and with PostgreSQL the SQLite store first, so
/// the two are compared in the same run. PostgreSQL runs on a database the bench creates on the
/// server of `--store-postgres-url` (its role needs CREATEDB) and drops afterwards.
fn stores_under_test(
    args: &BenchArgs,
    dir: &tempfile::TempDir,
) -> anyhow::Result<Vec<StoreUnderTest>> {
    let sqlite = || -> anyhow::Result<StoreUnderTest> {
        let db = dir.path().join("bench.db");
        Ok(StoreUnderTest {
            name: "sqlite",
            flags: [
                "--store",
                "sqlite",
                "--store-sqlite-path",
                path_str(&db)?,
                "--store-sqlite-synchronous",
                &args.sqlite_synchronous,
            ]
            .map(str::to_owned)
            .to_vec(),
            _database: None,
        })
    };
    match args.store.as_str() {
        "memory" => Ok(vec![StoreUnderTest {
            name: "memory",
            flags: vec!["--store".into(), "memory".into()],
            _database: None,
        }]),
        "sqlite" => Ok(vec![sqlite()?]),
        "postgres" => {
            let Some(url) = &args.store_postgres_url else {
                bail!(
                    "--store postgres needs --store-postgres-url (or NATSAPI_STORE_POSTGRES_URL): \
                     the server where the bench creates a database of its own"
                );
            };
            let database = TestDatabase::create_on(url.expose())
                .context("cannot create the bench's PostgreSQL database")?;
            let postgres = StoreUnderTest {
                name: "postgres",
                flags: vec![
                    "--store".into(),
                    "postgres".into(),
                    "--store-postgres-url".into(),
                    database.url().to_owned(),
                ],
                _database: Some(database),
            };
            Ok(vec![sqlite()?, postgres])
        }
        other => bail!("--store must be memory, sqlite or postgres, got {other:?}"),
    }
}

/// The NATS server a bench uses and how to connect to it: `server` with the connection settings
/// of `connection`, or a nats-server started on a free port (kept alive by the returned handle),
/// which needs none.
pub(super) fn nats_for_bench(
    server: Option<&str>,
    connection: &natsapi_config::ConnectArgs,
) -> anyhow::Result<(Option<NatsServer>, String, ConnectionSettings)> {
    let settings = connection.settings(server.unwrap_or_default())?;
    match server {
        Some(url) => Ok((None, url.to_owned(), settings)),
        None if settings != ConnectionSettings::default() => bail!(
            "the NATS credentials and TLS options (--api-nats-credentials, --api-nats-tls-*, ... \
             or their NATSAPI_* variables) need --server: the nats-server the bench starts \
             itself has no authentication or TLS"
        ),
        None => {
            let server = NatsServer::start().context("cannot start a nats-server for the bench")?;
            let url = server.url();
            Ok((Some(server), url, settings))
        }
    }
}

pub(super) fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str().context("temporary path is not UTF-8")
}
