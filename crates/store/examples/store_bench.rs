//! Store micro-benchmark: creates and reads through `Store::run` from many concurrent tasks,
//! without NATS. Prints ops/s and the process's CPU time per operation.
//!
//! `cargo run --release -p natsapi-store --example store_bench -- [memory|sqlite|postgres] [ops]
//! [tasks]`; `postgres` uses the (empty or natsapi) database at `NATSAPI_STORE_POSTGRES_URL`.

use std::sync::Arc;
use std::time::Instant;

use natsapi_core::promises::{CreatePromise, ReadPromise};
use natsapi_core::{SystemClock, Value};
use natsapi_store::{Store, StoreConfig};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn phase<F, Fut>(name: &str, ops: usize, tasks: usize, f: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let cpu = cpu_seconds();
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let f = f.clone();
            tokio::spawn(async move {
                let mut i = t;
                while i < ops {
                    f(i).await;
                    i += tasks;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_us = (cpu_seconds() - cpu) * 1e6 / ops as f64;
    println!("{name:<8} {:>9.0} ops/s  {cpu_us:>6.1} µs CPU/op", ops as f64 / seconds);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("sqlite", String::as_str).to_owned();
    let ops: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let tasks: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = match kind.as_str() {
            "memory" => StoreConfig::memory(),
            "postgres" => StoreConfig::postgres(
                std::env::var("NATSAPI_STORE_POSTGRES_URL")
                    .expect("postgres needs NATSAPI_STORE_POSTGRES_URL"),
            ),
            _ => StoreConfig::sqlite(dir.path().join("bench.db")),
        };
        let store = Store::open(&config, Arc::new(SystemClock)).expect("store opens");
        // Ids unique to this run: a PostgreSQL database keeps the promises of earlier runs.
        let run = std::process::id();
        println!("store {kind}: {ops} operations from {tasks} tasks");
        let s = store.clone();
        phase("create", ops, tasks, move |i| {
            let s = s.clone();
            async move {
                let op = CreatePromise {
                    id: format!("bench-{run}-{i}"),
                    idempotency_key: None,
                    strict: false,
                    param: Value {
                        headers: Default::default(),
                        data: b"{\"args\":[1,2,3]}".to_vec(),
                    },
                    timeout: 3_600_000,
                    tags: [("bench".to_owned(), "true".to_owned())].into(),
                };
                let reply = s.run(op).await.expect("store");
                assert!(reply.is_ok());
            }
        })
        .await;
        let s = store.clone();
        phase("read", ops, tasks, move |i| {
            let s = s.clone();
            async move {
                let id = format!("bench-{run}-{i}");
                let reply = s.run(ReadPromise { id }).await.expect("store");
                assert!(reply.is_ok());
            }
        })
        .await;
    });
}
