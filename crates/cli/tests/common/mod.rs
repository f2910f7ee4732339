//! Shared by the tests that run `natsapi serve` as a child process.

#![allow(dead_code)]

pub mod gateway;
pub mod process;

use std::process::{Command, Stdio};

use natsapi_testkit::KillOnDrop;

/// `natsapi serve` on the SQLite file `db`, NATS at `url`, no HTTP or poll listener.
pub fn serve_sqlite(url: &str, db: &str) -> KillOnDrop {
    serve_on(url, &["--store", "sqlite", "--store-sqlite-path", db])
}

/// `natsapi serve` on the PostgreSQL database at `db_url`, NATS at `url`, no HTTP or poll
/// listener.
pub fn serve_postgres(url: &str, db_url: &str) -> KillOnDrop {
    serve_on(url, &["--store", "postgres", "--store-postgres-url", db_url])
}

/// `natsapi serve` with the store flags `store`, NATS at `url`, no HTTP or poll listener.
fn serve_on(url: &str, store: &[&str]) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_natsapi"))
        .args(["serve", "--api-nats-addr", url, "--api-http-enable=false"])
        .arg("--poll-enable=false")
        .args(store)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("natsapi serve starts");
    KillOnDrop(child)
}
