//! The signed RPC client commands: `natsapi keygen` makes a wallet key, `natsapi sign` signs a
//! call (for curl or any HTTP client), `natsapi op` signs one and sends it to a gateway's
//! `POST /op`, and `natsapi query` signs a read and checks that the answer is signed by the
//! node (the wallet `GET /clusterizer` names, or `--node-wallet`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use natsapi_client::rpc::{Call, Format, SecretKey, SignedCall, Wallet, sign_call};
use natsapi_core::Clock;

/// Options of `natsapi keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The file to write the new key to (64 hex digits; created with mode 0600, never
    /// overwritten).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// How a call is built and signed (shared by `sign`, `op` and `query`).
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The wallet's private key: a file holding 64 hex digits (see `natsapi keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The call, `{"id", "method", "params"}` as JSON; `-` reads it from standard input,
    /// `@FILE` from a file.
    call: String,
    /// How to sign: `msgpack` (the signed MessagePack envelope, application/x-audius-msg) or
    /// `json` (the body with an x-sig header).
    #[arg(long, default_value = "msgpack", value_parser = parse_format)]
    format: Format,
    /// Sign MessagePack calls in DER form (the original codec's default) instead of compact.
    #[arg(long)]
    der: bool,
    /// Leave out the signed timestamp `ts` (by default the current time is added unless the
    /// call has one).
    #[arg(long)]
    no_ts: bool,
}

/// Options of `natsapi sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    #[command(flatten)]
    call: CallArgs,
    /// Write the signed body here instead of standard output. With `--format json` the x-sig
    /// value is printed on standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Options of `natsapi op` and `natsapi query`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    call: CallArgs,
    /// The ingest gateway.
    #[arg(long, env = "NATSAPI_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The node wallet query answers must be signed by [default: the one GET /clusterizer names].
    #[arg(long, value_name = "WALLET")]
    node_wallet: Option<Wallet>,
}

fn parse_format(text: &str) -> Result<Format, String> {
    Format::parse(text).map_err(|e| e.to_string())
}

/// `natsapi keygen`.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = SecretKey::create_file(&args.out)
        .with_context(|| format!("cannot create key file {}", args.out.display()))?;
    println!("{}", key.wallet());
    Ok(ExitCode::SUCCESS)
}

impl CallArgs {
    /// The key, the call and the signed call.
    fn sign(&self) -> anyhow::Result<(SecretKey, Call, SignedCall)> {
        let key = SecretKey::read_file(&self.key)
            .with_context(|| format!("key file {}", self.key.display()))?;
        let text = match self.call.as_str() {
            "-" => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).context("reading the call")?;
                text
            }
            other => match other.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the call from {path}"))?,
                None => other.to_owned(),
            },
        };
        let mut call = Call::decode(Format::Json, text.as_bytes()).context("the call")?;
        if !self.no_ts && call.ts.is_none() {
            call.ts = Some(natsapi_core::SystemClock.now_ms());
        }
        let signed = sign_call(&key, &call, self.format, self.der);
        Ok((key, call, signed))
    }
}

/// `natsapi sign`.
pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let (_, _, signed) = args.call.sign()?;
    match &args.out {
        Some(path) => std::fs::write(path, &signed.body)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None if signed.signature_header.is_some() => {
            bail!("--format json needs --out FILE for the body (the x-sig value is printed)")
        }
        None => std::io::stdout().write_all(&signed.body).context("writing the call")?,
    }
    if let Some(signature) = &signed.signature_header {
        println!("{signature}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `natsapi op`: prints the gateway's answer; exits 1 when it is not a 2xx.
pub fn op(args: SendArgs) -> anyhow::Result<ExitCode> {
    let (key, _, signed) = args.call.sign()?;
    let runtime = super::runtime(1)?;
    runtime.block_on(async {
        let response = post(&args.url, "/op", &key, &signed, false).await?;
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        println!("{text}");
        Ok(if status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

/// `natsapi query`: checks the node's signature and prints the answer; exits 1 when it is not a
/// 2xx.
pub fn query(args: SendArgs) -> anyhow::Result<ExitCode> {
    let (key, call, signed) = args.call.sign()?;
    let runtime = super::runtime(1)?;
    runtime.block_on(async {
        let node = match args.node_wallet {
            Some(wallet) => wallet,
            None => node_wallet(&args.url).await?,
        };
        let response = post(&args.url, "/query", &key, &signed, true).await?;
        let status = response.status();
        let body = response.bytes().await.context("reading the answer")?;
        let opened = natsapi_client::rpc::open_msgpack(&body)
            .context("the answer is not a signed MessagePack envelope")?;
        if opened.wallet != node {
            bail!("the answer is signed by {}, not by the node {node}", opened.wallet);
        }
        let value = natsapi_client::rpc::value_from_msgpack(&opened.payload)
            .context("the answer's payload")?;
        // A signed answer to another query (an old one, served again) is not this one's.
        if status.is_success()
            && value.get("id").and_then(serde_json::Value::as_str) != Some(&call.id)
        {
            bail!("the answer is for query {}, not {:?}", value["id"], call.id);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        Ok(if status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

async fn post(
    base: &str,
    path: &str,
    key: &SecretKey,
    signed: &SignedCall,
    msgpack_answer: bool,
) -> anyhow::Result<reqwest::Response> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    // The gateway refuses the call if it was altered on its way (it would recover another
    // wallet).
    let mut request = reqwest::Client::new()
        .post(&url)
        .header("content-type", signed.content_type)
        .header("x-wallet", key.wallet().to_string())
        .body(signed.body.clone());
    if let Some(signature) = &signed.signature_header {
        request = request.header(natsapi_client::rpc::SIGNATURE_HEADER, signature);
    }
    if msgpack_answer {
        request = request.header("accept", natsapi_client::rpc::MSGPACK_CONTENT_TYPE);
    }
    request.send().await.with_context(|| format!("POST {url}"))
}

/// The node wallet `GET /clusterizer` names.
async fn node_wallet(base: &str) -> anyhow::Result<Wallet> {
    let url = format!("{}/clusterizer", base.trim_end_matches('/'));
    let body = reqwest::get(&url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .bytes()
        .await
        .with_context(|| format!("GET {url}"))?;
    let answer: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))?;
    let wallet = answer.get("wallet").and_then(serde_json::Value::as_str).unwrap_or_default();
    wallet.parse().map_err(|e| anyhow::anyhow!("GET {url}: wallet {wallet:?}: {e}"))
}
