//! The `natsapi` binary: `serve` and `dev` run the server, `req` sends one request, `bench`
//! measures throughput against a NATS echo baseline.

mod commands;
mod logging;
mod settings;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the request path allocates many small, short-lived buffers (envelopes, replies,
/// rows); measured on the 2-core benchmark box it cut the server's CPU per request noticeably
/// against glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Durable promises over NATS request-reply, with the semantics of the Resonate v0.7 server.
#[derive(Debug, Parser)]
#[command(name = "natsapi", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (SQLite store at natsapi.db by default).
    Serve(natsapi_config::ServerArgs),
    /// Run the server for development: in-memory store, and a nats-server child when nothing
    /// answers at the NATS address.
    Dev(commands::dev::DevArgs),
    /// Run the ingest gateway: HTTP `/ingest/*` to JetStream (NATS_URL, NATS_STREAM and PORT
    /// apply when the flags and NATSAPI_* variables do not say).
    Ingest(natsapi_config::GatewayArgs),
    /// Run a worker: apply ingested messages to the database exactly once.
    Worker(natsapi_config::WorkerArgs),
    /// Send one request to a natsapi server and print the reply.
    Req(commands::req::ReqArgs),
    /// Make a wallet key for signed RPC calls; prints its wallet.
    Keygen(commands::sign::KeygenArgs),
    /// Sign an RPC call `{id, method, params}` for POST /op or /query (curl or any client).
    Sign(commands::sign::SignArgs),
    /// Sign an RPC call and send it to an ingest gateway's POST /op; prints the answer.
    Op(commands::sign::SendArgs),
    /// Sign a query and send it to POST /query; checks the node's signature, prints the answer.
    Query(commands::sign::SendArgs),
    /// Measure promises.create and promises.read against a NATS echo responder.
    Bench(commands::bench::BenchArgs),
    /// A trivial NATS echo responder (the benchmark's baseline).
    #[command(hide = true)]
    Echo(commands::echo::EchoArgs),
    /// A trivial HTTP to JetStream forwarder (the ingest benchmark's second baseline).
    #[command(hide = true)]
    Forward(commands::forward::ForwardArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Dev(args) => commands::dev::run(args),
        Command::Ingest(args) => commands::ingest::run(commands::ingest::Role::Gateway, args.0),
        Command::Worker(args) => commands::ingest::run(commands::ingest::Role::Worker, args.0),
        Command::Req(args) => commands::req::run(args),
        Command::Keygen(args) => commands::sign::keygen(args),
        Command::Sign(args) => commands::sign::sign(args),
        Command::Op(args) => commands::sign::op(args),
        Command::Query(args) => commands::sign::query(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Echo(args) => commands::echo::run(args),
        Command::Forward(args) => commands::forward::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("natsapi: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// `error` and its causes, each said once: many errors (ours and the NATS client's) end their
/// own message with their cause's, which a plain walk down the chain would print again.
fn report(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let said = cause.to_string();
        if text.ends_with(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::report;

    /// An error that ends its message with its cause's, as many do.
    #[derive(Debug)]
    struct Repeats {
        source: std::io::Error,
    }

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read x: {}", self.source)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(Repeats { source: io() }).context("cannot start");
        assert_eq!(report(&error), "cannot start: cannot read x: no such file");
        let error = anyhow::Error::new(io()).context("cannot listen on 0.0.0.0:8001");
        assert_eq!(report(&error), "cannot listen on 0.0.0.0:8001: no such file");
    }
}
