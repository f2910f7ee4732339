//! `natsapi bench --suite ingest`: the ingest gateway (`POST /ingest/message` at a fixed number
//! of requests in flight, and `POST /ingest/batch`) beside raw JetStream publishing with the
//! same number of acknowledgements in flight, measured in the same run on the same nats-server;
//! and how fast a worker applies what the gateway took; and signed calls (`POST /op`, signed
//! before the run, as clients sign their own) beside `POST /ingest/message`. The gateway and the worker run as
//! separate `natsapi ingest` and `natsapi worker` processes, as in production.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use hyper::{Method, StatusCode};

use super::bench::{cpu_us, nats_for_bench, path_str, rss_mib, spawn_self};
use super::bench_http::HttpPool;
use natsapi_client::rpc::{Call, Format, MSGPACK_CONTENT_TYPE, SecretKey, sign_call};

/// What `natsapi bench --suite ingest` was asked for.
pub struct IngestBench {
    /// NATS URL; a nats-server is started when absent.
    pub server: Option<String>,
    /// Credentials and TLS for `server`.
    pub connection: natsapi_config::ConnectArgs,
    /// Requests (or raw publishes) in flight.
    pub concurrency: usize,
    /// Messages per run.
    pub requests: usize,
    /// Unmeasured messages before the runs.
    pub warmup: usize,
    /// Lines per batch request.
    pub batch_lines: usize,
    /// SQLite durability of the ingest database.
    pub sqlite_synchronous: String,
    /// Worker threads of the gateway and the worker processes.
    pub worker_threads: usize,
    /// Measure the gateway alone: no worker runs while messages are ingested.
    pub gateway_only: bool,
    /// Rounds of the gateway runs (each with its own raw publishing run).
    pub rounds: usize,
    /// The ingest database (`--ingest-db`), when not a file in a temporary directory.
    pub ingest_db: Option<String>,
}

/// Batch requests in flight at once.
const BATCHES_IN_FLIGHT: usize = 2;

/// One run's figures.
#[derive(Clone)]
struct Run {
    messages_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    errors: usize,
    cpu_us_per_message: Option<f64>,
    /// CPU time per message of the load generator and of nats-server (when the bench started
    /// it), over the same span.
    others_cpu_us: Option<(f64, Option<f64>)>,
    /// Messages not yet applied when the run's last request was answered, and the most seen while it ran (sampled every 50 ms).
    backlog: Option<(u64, u64)>,
    /// Messages per second the worker applied, from the run's start until its backlog was empty.
    worker_per_sec: Option<f64>,
    /// The worker process's CPU time per message over the same span.
    worker_cpu_us: Option<f64>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?)
}

fn body(run: &str, i: usize) -> String {
    format!(
        r#"{{"entity_type":"order","order_id":"{run}-{i}","customer":"c{}","total":{}.25,"currency":"EUR","items":[{{"sku":"A-1","qty":2}}]}}"#,
        i % 977,
        i % 1000
    )
}

/// Runs `jobs` jobs, `window` at a time, and measures them: `start(i)` begins job `i`, which
/// answers how many of its messages failed. `total` messages in all.
async fn pipelined<F, Fut>(
    total: usize,
    jobs: usize,
    window: usize,
    mut start: F,
) -> anyhow::Result<Run>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut latencies = histogram()?;
    let mut inflight = FuturesUnordered::new();
    let (mut next, mut errors) = (0, 0);
    let started = Instant::now();
    while next < jobs || !inflight.is_empty() {
        while next < jobs && inflight.len() < window {
            let job = start(next);
            inflight.push(async move {
                let sent = Instant::now();
                let failed = job.await;
                (sent.elapsed(), failed)
            });
            next += 1;
        }
        if let Some((elapsed, failed)) = inflight.next().await {
            latencies.saturating_record(elapsed.as_micros() as u64);
            errors += failed;
        }
    }
    Ok(Run {
        messages_per_sec: total as f64 / started.elapsed().as_secs_f64(),
        p50_us: latencies.value_at_quantile(0.5),
        p99_us: latencies.value_at_quantile(0.99),
        errors,
        cpu_us_per_message: None,
        others_cpu_us: None,
        backlog: None,
        worker_per_sec: None,
        worker_cpu_us: None,
    })
}

/// Publishes `total` messages to the raw stream, `window` acknowledgements in flight. Their ids
/// (`Nats-Msg-Id`) start with `run`, which must differ between calls: JetStream would take a
/// repeated id for a duplicate and store nothing.
async fn raw_publish(
    js: &jetstream::Context,
    run: &str,
    total: usize,
    window: usize,
) -> anyhow::Result<Run> {
    pipelined(total, total, window, |i| {
        let message = jetstream::message::PublishMessage::build()
            .payload(body("raw", i).into())
            .message_id(format!("{run}-{i}"));
        async move {
            match js.send_publish("bench.raw.order", message).await {
                Ok(ack) => usize::from(ack.await.is_err()),
                Err(_) => 1,
            }
        }
    })
    .await
}

/// What a run of one-message requests sends.
#[derive(Clone, Copy)]
enum Single {
    /// `GET /` of the gateway, a route it does not have (404): the HTTP round trip alone, no
    /// JetStream or database (its `/health` checks both).
    Floor,
    /// `POST /ingest/message` of the gateway.
    Ingest,
    /// `POST /forward` of `natsapi forward`: HTTP, then a bare JetStream publish.
    Forward,
}

impl Single {
    /// Request `i`: its method, path, body and the status that means success.
    fn request(self, i: usize) -> (Method, &'static str, Bytes, StatusCode) {
        match self {
            Single::Floor => (Method::GET, "/", Bytes::new(), StatusCode::NOT_FOUND),
            Single::Ingest => {
                (Method::POST, "/ingest/message", body("single", i).into(), StatusCode::ACCEPTED)
            }
            Single::Forward => {
                (Method::POST, "/forward", body("forward", i).into(), StatusCode::ACCEPTED)
            }
        }
    }
}

/// Sends `total` requests of one message each, `concurrency` in flight.
async fn singles(
    http: &HttpPool,
    kind: Single,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Run> {
    pipelined(total, total, concurrency, |i| {
        let (method, path, payload, want) = kind.request(i);
        async move {
            usize::from(!matches!(http.send(method, path, payload).await, Ok((s, _)) if s == want))
        }
    })
    .await
}

/// `total` signed `track_comment.add` calls of one wallet, MessagePack envelopes with compact
/// signatures, with ids unique to `run`.
fn signed_calls(run: &str, total: usize) -> Vec<Bytes> {
    let key = SecretKey::generate();
    (0..total)
        .map(|i| {
            let params = serde_json::json!({"comment_id": format!("{run}-{i}"),
                "track_id": i % 977, "position_ms": i, "comment": "sick drop"});
            let call =
                Call::new(format!("track_comment.add.{run}-{i}"), "track_comment.add", params);
            Bytes::from(sign_call(&key, &call, Format::MsgPack, false).body)
        })
        .collect()
}

/// POSTs `calls` to `/op`, `concurrency` in flight.
async fn ops(http: &HttpPool, calls: &[Bytes], concurrency: usize) -> anyhow::Result<Run> {
    pipelined(calls.len(), calls.len(), concurrency, |i| {
        let body = calls[i].clone();
        async move {
            let sent = http.send_typed(Method::POST, "/op", body, MSGPACK_CONTENT_TYPE, None).await;
            let failed = !matches!(sent, Ok((StatusCode::ACCEPTED, _)));
            if failed {
                report_failure("POST /op", &sent);
            }
            usize::from(failed)
        }
    })
    .await
}

/// Prints the first failed request of the bench (status and body, or the error), so that a run
/// with errors says why.
fn report_failure(what: &str, outcome: &anyhow::Result<(StatusCode, Bytes)>) {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| match outcome {
        Ok((status, body)) => {
            eprintln!("first failure: {what}: {status} {}", String::from_utf8_lossy(body));
        }
        Err(e) => eprintln!("first failure: {what}: {e:#}"),
    });
}

/// Waits until `GET path` answers 200.
async fn wait_ready(http: &HttpPool, path: &str, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http.send(Method::GET, path, Bytes::new()).await, Ok((StatusCode::OK, _))) {
        if Instant::now() > deadline {
            bail!("{what} did not become ready within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// POSTs `total` messages as batches of `lines`, [`BATCHES_IN_FLIGHT`] requests in flight.
async fn batches(http: &HttpPool, total: usize, lines: usize) -> anyhow::Result<Run> {
    let lines = lines.max(1);
    pipelined(total, total.div_ceil(lines), BATCHES_IN_FLIGHT, |job| {
        let (from, to) = (job * lines, ((job + 1) * lines).min(total));
        let text: String = (from..to).map(|i| body("batch", i) + "\n").collect();
        async move {
            let stored = match http.send(Method::POST, "/ingest/batch", Bytes::from(text)).await {
                Ok((StatusCode::ACCEPTED, reply)) => {
                    serde_json::from_slice::<serde_json::Value>(&reply)
                        .ok()
                        .and_then(|v| v["inserted"].as_u64())
                        .unwrap_or(0)
                }
                other => {
                    report_failure("POST /ingest/batch", &other);
                    0
                }
            };
            (to - from).saturating_sub(stored as usize)
        }
    })
    .await
}

/// The message stream and the stream of signed calls.
const MESSAGES: &str = "MESSAGES";
const CALLS: &str = "RPC";

/// Messages of `stream` not applied yet: the streams are work queues, so a message leaves when
/// the worker acknowledges it, after its transaction committed.
async fn backlog(js: &jetstream::Context, stream: &str) -> anyhow::Result<u64> {
    let mut stream = js.get_stream(stream).await?;
    Ok(stream.info().await?.state.messages)
}

/// Waits until the worker has applied everything in `stream`; returns when that happened.
async fn drained(js: &jetstream::Context, stream: &str) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if backlog(js, stream).await? == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("the worker did not drain the stream within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The processes sharing the machine during a run: the bench itself (the load generator),
/// nats-server when the bench started it, and the gateway.
#[derive(Clone, Copy)]
struct Processes {
    client: u32,
    nats: Option<u32>,
    gateway: u32,
}

/// Runs `ingest` and charges each process's CPU time to its messages.
async fn charged(
    processes: Processes,
    total: usize,
    ingest: impl std::future::Future<Output = anyhow::Result<Run>>,
) -> anyhow::Result<Run> {
    let sample =
        || (cpu_us(processes.client), processes.nats.and_then(cpu_us), cpu_us(processes.gateway));
    let before = sample();
    let mut run = ingest.await?;
    let after = sample();
    let per_message = |b: Option<f64>, a: Option<f64>| Some((a? - b?) / total as f64);
    run.cpu_us_per_message = per_message(before.2, after.2);
    run.others_cpu_us = per_message(before.0, after.0).map(|c| (c, per_message(before.1, after.1)));
    Ok(run)
}

/// Runs `ingest` into `stream` and then waits for the worker, filling in the backlog and the
/// worker's rate.
async fn with_worker(
    js: &jetstream::Context,
    stream: &str,
    processes: Processes,
    worker_pid: u32,
    total: usize,
    ingest: impl std::future::Future<Output = anyhow::Result<Run>>,
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let worker_before = cpu_us(worker_pid);
    let highest = std::cell::Cell::new(0);
    let sample = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(waiting) = backlog(js, stream).await {
                highest.set(highest.get().max(waiting));
            }
        }
    };
    let sampled = async {
        tokio::select! {
            run = ingest => run,
            // The sampler never ends; its output type is `!`.
            never = sample => never,
        }
    };
    let mut run = charged(processes, total, sampled).await?;
    if let Ok(backlog) = backlog(js, stream).await {
        run.backlog = Some((backlog, highest.get().max(backlog)));
        let done = drained(js, stream).await?;
        run.worker_per_sec = Some(total as f64 / (done - started).as_secs_f64());
        if let (Some(before), Some(after)) = (worker_before, cpu_us(worker_pid)) {
            run.worker_cpu_us = Some((after - before) / total as f64);
        }
    }
    Ok(run)
}

/// A run's share of raw publishing in its own round: the median over the rounds, and the lowest
/// and highest.
#[derive(Clone, Copy)]
struct Share {
    median: f64,
    low: f64,
    high: f64,
}

impl Share {
    /// The share of a run made once.
    fn single(share: f64) -> Self {
        Share { median: share, low: share, high: share }
    }
}

/// One line of the table: a run (its median round) and its share of raw publishing.
struct Row {
    name: &'static str,
    run: Run,
    share: Share,
}

/// The row of run `index` of each round: the round where its share of that round's raw publishing
/// (`runs[0]`) is the median, or for raw publishing itself, where its rate is.
fn median_round(name: &'static str, rounds: &[Vec<Run>], index: usize) -> Row {
    let mut shares: Vec<(f64, &Run)> = rounds
        .iter()
        .map(|runs| {
            let rate = runs[index].messages_per_sec;
            let share = if index == 0 { rate } else { rate / runs[0].messages_per_sec };
            (share, &runs[index])
        })
        .collect();
    shares.sort_by(|a, b| a.0.total_cmp(&b.0));
    // With an even number of rounds, the lower of the two middle ones.
    let (median, run) = shares[(shares.len() - 1) / 2];
    let (low, high) = (shares[0].0, shares[shares.len() - 1].0);
    let share = if index == 0 { Share::single(1.0) } else { Share { median, low, high } };
    Row { name, run: run.clone(), share }
}

fn row(row: &Row) -> String {
    let Row { name, run, share } = row;
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("n/a".to_owned(), |v| format!("{v:.digits$}"));
    let percent = |v: f64| (100.0 * v).round();
    let share = if share.low == share.high {
        format!("{}%", percent(share.median))
    } else {
        format!("{}% ({}-{})", percent(share.median), percent(share.low), percent(share.high))
    };
    format!(
        "{name:<24} {:>10.0} {:>10} {:>10} {share:>14} {:>10} {:>15} {:>12} {:>10} {:>7}",
        run.messages_per_sec,
        run.p50_us,
        run.p99_us,
        opt(run.cpu_us_per_message, 1),
        run.backlog.map_or("n/a".to_owned(), |(end, most)| format!("{end}/{most}")),
        opt(run.worker_per_sec, 0),
        opt(run.worker_cpu_us, 1),
        run.errors,
    )
}

/// Prints where each run's CPU went: µs per message of the load generator, nats-server and the
/// gateway, and what share of the machine's cores they used together.
fn print_cpu_split(rows: &[Row]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "CPU µs per message: {:<24} {:>10} {:>11} {:>8} {:>6} {:>10}",
        "run", "generator", "nats-server", "gateway", "sum", "cores used"
    );
    for Row { name, run, .. } in rows {
        let Some((client, nats)) = run.others_cpu_us else { continue };
        let gateway = run.cpu_us_per_message;
        let sum = client + nats.unwrap_or(0.0) + gateway.unwrap_or(0.0);
        let opt = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
        println!(
            "                    {name:<24} {client:>10.1} {:>11} {:>8} {sum:>6.1} {:>9.0}%",
            opt(nats),
            opt(gateway),
            100.0 * sum * run.messages_per_sec / 1e6 / cores
        );
    }
}

/// Runs the ingest suite and prints its table.
pub fn run(b: &IngestBench) -> anyhow::Result<ExitCode> {
    let (nats, url, connection) = nats_for_bench(b.server.as_deref(), &b.connection)?;
    // Raw publishing ids unique to this invocation: with `--server` the raw stream outlives the
    // bench, and JetStream takes a repeated `Nats-Msg-Id` for a duplicate and stores nothing.
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let invocation = format!("{}-{}", std::process::id(), since_epoch.map_or(0, |d| d.as_millis()));
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("ingest.db");
    let db = match &b.ingest_db {
        Some(db) => db.as_str(),
        None => path_str(&file)?,
    };
    let database = match natsapi_config::IngestDatabase::parse(db) {
        Ok(natsapi_config::IngestDatabase::Postgres(url)) => format!("PostgreSQL {url}"),
        _ => format!("SQLite synchronous={}", b.sqlite_synchronous),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let threads = b.worker_threads.to_string();
    let common = [
        "--api-nats-addr",
        url.as_str(),
        "--ingest-db",
        db,
        "--store-sqlite-synchronous",
        b.sqlite_synchronous.as_str(),
        "--worker-threads",
        threads.as_str(),
    ];
    let mut gateway_args = vec!["ingest", "--ingest-addr", addr.as_str()];
    gateway_args.extend(common);
    let gateway = spawn_self(&gateway_args, &connection)?;
    let gateway_pid = gateway.0.id();
    let forward_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let forward_addr = format!("127.0.0.1:{forward_port}");
    let forwarder = spawn_self(
        &[
            "forward",
            "--server",
            url.as_str(),
            "--addr",
            forward_addr.as_str(),
            "--worker-threads",
            threads.as_str(),
        ],
        &connection,
    )?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let http = HttpPool::new(&addr);
        let forward_http = HttpPool::new(&forward_addr);
        wait_ready(&http, "/ready", "the ingest gateway").await?;
        wait_ready(&forward_http, "/health", "the forwarder").await?;
        let client = connection.connect_options(&url)?.connect(&url).await.with_context(|| {
            format!("cannot connect to NATS at {}", natsapi_client::connection::redact_addr(&url))
        })?;
        let js = jetstream::new(client);
        js.create_stream(jetstream::stream::Config {
            name: "BENCH_RAW".into(),
            subjects: vec!["bench.raw.>".into()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
        let idle_rss = rss_mib(gateway_pid);
        let (n, c) = (b.requests, b.concurrency);

        // 1. The gateway alone, beside raw publishing and the bare HTTP round trip.
        raw_publish(&js, &format!("{invocation}-warm"), b.warmup, c).await?;
        singles(&http, Single::Ingest, b.warmup, c).await?;
        singles(&forward_http, Single::Forward, b.warmup, c).await?;
        let processes = Processes {
            client: std::process::id(),
            nats: nats.as_ref().map(|server| server.pid()),
            gateway: gateway_pid,
        };
        let forwarding = Processes { gateway: forwarder.0.id(), ..processes };
        let mut rounds = Vec::new();
        for round in 0..b.rounds.max(1) {
            let label = format!("{invocation}-raw{round}");
            let mut raw = charged(processes, n, raw_publish(&js, &label, n, c)).await?;
            // The gateway takes no part in raw publishing.
            raw.cpu_us_per_message = None;
            let floor = charged(processes, n, singles(&http, Single::Floor, n, c)).await?;
            let forward =
                charged(forwarding, n, singles(&forward_http, Single::Forward, n, c)).await?;
            let single = charged(processes, n, singles(&http, Single::Ingest, n, c)).await?;
            let batch = charged(processes, n, batches(&http, n, b.batch_lines)).await?;
            let calls = signed_calls(&format!("{invocation}-op{round}"), n);
            let op = charged(processes, n, ops(&http, &calls, c)).await?;
            rounds.push(vec![raw, floor, forward, single, batch, op]);
        }
        let loaded_rss = rss_mib(gateway_pid);
        let names = [
            "raw publish (baseline)",
            "GET / 404 (HTTP floor)",
            "HTTP->JS forwarder",
            "POST /ingest/message",
            "POST /ingest/batch",
            "POST /op (signed)",
        ];
        let mut rows: Vec<Row> =
            names.iter().enumerate().map(|(i, name)| median_round(name, &rounds, i)).collect();
        let batch_rate = rows[4].run.messages_per_sec;

        // 2. The worker alone, on everything the gateway took; 3. both at once.
        let mut worker_alone = None;
        let mut calls_alone = None;
        if !b.gateway_only {
            let waiting = backlog(&js, MESSAGES).await?;
            let calls_waiting = backlog(&js, CALLS).await?;
            let mut worker_args = vec!["worker"];
            worker_args.extend(common);
            let worker = spawn_self(&worker_args, &connection)?;
            let worker_pid = worker.0.id();
            let (started, cpu_before) = (Instant::now(), cpu_us(worker_pid));
            // The worker applies both streams at once, in one store.
            let (done, calls_done) =
                futures::try_join!(drained(&js, MESSAGES), drained(&js, CALLS))?;
            let per_sec = waiting as f64 / (done - started).as_secs_f64();
            let cpu = cpu_before.zip(cpu_us(worker_pid)).map(|(b, a)| (a - b) / waiting as f64);
            worker_alone = Some((waiting, per_sec, cpu));
            calls_alone =
                Some((calls_waiting, calls_waiting as f64 / (calls_done - started).as_secs_f64()));
            let ingest = batches(&http, n, b.batch_lines);
            let both = with_worker(&js, MESSAGES, processes, worker_pid, n, ingest).await?;
            let share = Share::single(both.messages_per_sec / rows[0].run.messages_per_sec);
            rows.push(Row { name: "batch + worker running", run: both, share });
            let calls = signed_calls(&format!("{invocation}-op-worker"), n);
            let ingest = ops(&http, &calls, c);
            let both = with_worker(&js, CALLS, processes, worker_pid, n, ingest).await?;
            let share = Share::single(both.messages_per_sec / rows[0].run.messages_per_sec);
            rows.push(Row { name: "op + worker running", run: both, share });
        }

        println!(
            "natsapi bench --suite ingest: {n} messages per run, {} rounds (each run's median \
             round shown), {c} requests (or acks) in flight, batches of {} lines \
             ({BATCHES_IN_FLIGHT} in flight), ingest database {database}, {threads} worker \
             thread(s), NATS at {url}",
            rounds.len(),
            b.batch_lines,
            url = natsapi_client::connection::redact_addr(&url),
        );
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>14} {:>10} {:>15} {:>12} {:>10} {:>7}",
            "run",
            "msgs/s",
            "p50 µs",
            "p99 µs",
            "of raw (range)",
            "cpu µs/msg",
            "backlog end/max",
            "worker msg/s",
            "worker cpu",
            "errors"
        );
        for line in &rows {
            println!("{}", row(line));
        }
        if let Some((waiting, per_sec, cpu)) = worker_alone {
            let cpu = cpu.map_or("n/a".to_owned(), |c| format!("{c:.1}"));
            println!(
                "natsapi worker alone: applied the {waiting} messages waiting at {per_sec:.0} \
                 msgs/s ({:.0}% of the batch run's rate in its median round), {cpu} µs CPU per \
             message",
                100.0 * per_sec / batch_rate
            );
        }
        if let Some((waiting, per_sec)) = calls_alone {
            println!(
                "natsapi worker alone: applied the {waiting} signed calls waiting at {per_sec:.0} \
                 calls/s (verified again, rpclog and track_comments; while it also applied the \
                 messages above)"
            );
        }
        let (single, signed) = (&rows[3].run, &rows[5].run);
        println!(
            "signed calls: POST /op took {:.0} calls/s, {:.0}% of POST /ingest/message's {:.0} \
             msgs/s (median rounds); p50 {} µs vs {} µs",
            signed.messages_per_sec,
            100.0 * signed.messages_per_sec / single.messages_per_sec,
            single.messages_per_sec,
            signed.p50_us,
            single.p50_us
        );
        print_cpu_split(&rows);
        let mib = |v: Option<f64>| v.map_or("n/a".to_owned(), |m| format!("{m:.1} MiB"));
        println!(
            "natsapi ingest RSS: idle {}; after {} messages {}",
            mib(idle_rss),
            3 * n * rounds.len() + b.warmup,
            mib(loaded_rss)
        );
        println!(
            "(rates and latencies: each run's median round; of raw: its rate over raw \
             publishing's in the same round, median and range over the rounds, and for batch + \
             worker over the raw row's; latency: per message for raw and single, per request of \
             {} lines for batch; backlog: messages not yet applied when the run's last request \
             was answered, and the most seen during the run)",
            b.batch_lines
        );
        let errors: usize = rounds.iter().flatten().map(|run| run.errors).sum::<usize>()
            + rows.iter().skip(names.len()).map(|row| row.run.errors).sum::<usize>();
        if errors > 0 {
            bail!("{errors} messages failed");
        }
        Ok(ExitCode::SUCCESS)
    })
}
