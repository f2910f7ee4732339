//! Settings of the ingest gateway and the worker (YAML `ingest`, flags `--ingest-*` and
//! `--worker-*`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{ConfigError, HttpSettings, IngestDatabase, Mode, parse};

/// The ingest gateway and the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// The HTTP gateway (`/ingest/*`): enabled by default in `dev` only; default address
    /// [`DEFAULT_INGEST_ADDR`].
    pub gateway: HttpSettings,
    /// Whether to run a worker: by default in `dev` only.
    pub worker_enabled: bool,
    /// The message stream (`NATS_STREAM` for `natsapi ingest` and `worker`). Default `MESSAGES`.
    pub stream: String,
    /// Messages go to `<subject_prefix>.<entity_type>`. Default `messages.ingest`.
    pub subject_prefix: String,
    /// The dead-letter stream. Default `MESSAGES_DLQ`.
    pub dead_letter_stream: String,
    /// Dead letters go to `<dead_letter_prefix>.<entity_type>`. Default `messages.dlq`.
    pub dead_letter_prefix: String,
    /// Largest size of each stream; a full stream refuses messages (503). Default 1 GiB.
    pub max_bytes: usize,
    /// How long JetStream drops a repeated message id. Default 2 min.
    pub duplicate_window: Duration,
    /// The database holding the `messages` table and the mapped tables: a SQLite file or a
    /// PostgreSQL database. Default: the store's database when the store is PostgreSQL, else
    /// the file [`DEFAULT_INGEST_DB`].
    pub database: IngestDatabase,
    /// Keep `database` in the process's temporary directory instead, deleted on exit: `dev`
    /// with its in-memory store does, unless a flag, variable or the file names the database.
    pub temp_database: bool,
    /// The worker's durable consumer. Default `natsapi-worker`.
    pub consumer: String,
    /// Most messages a worker applies in one transaction. Default 256.
    pub batch_size: usize,
    /// Deliveries before a failing message is dead-lettered. Default 5.
    pub max_attempts: usize,
    /// How long JetStream waits for an ack before redelivering. Default 30 s.
    pub ack_wait: Duration,
    /// Entity type → table mapping (YAML only).
    pub entities: BTreeMap<String, EntitySettings>,
    /// Signed RPC calls (`POST /op`, `POST /query`).
    pub rpc: RpcSettings,
}

/// Signed RPC calls: their streams and limits (YAML `ingest.rpc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcSettings {
    /// The call stream. Default `RPC`.
    pub stream: String,
    /// Calls go to `<subject_prefix>.<method>`. Default `rpc.op`.
    pub subject_prefix: String,
    /// The calls' dead-letter stream. Default `RPC_DLQ`.
    pub dead_letter_stream: String,
    /// Dead calls go to `<dead_letter_prefix>.<method>`. Default `rpc.dlq`.
    pub dead_letter_prefix: String,
    /// How far a call's signed `ts` may be from the gateway's clock. Default 5 min.
    pub freshness: Duration,
    /// Whether every call must carry a signed `ts`. Default false.
    pub require_ts: bool,
    /// Largest body of `POST /op` and `POST /query`. Default 256 KiB.
    pub max_call_bytes: usize,
}

impl Default for RpcSettings {
    fn default() -> Self {
        RpcSettings {
            stream: "RPC".into(),
            subject_prefix: "rpc.op".into(),
            dead_letter_stream: "RPC_DLQ".into(),
            dead_letter_prefix: "rpc.dlq".into(),
            freshness: Duration::from_secs(300),
            require_ts: false,
            max_call_bytes: 256 << 10,
        }
    }
}

/// The table of one entity type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySettings {
    /// The table name.
    pub table: String,
    /// Its columns (besides the implicit `message_id`).
    pub columns: Vec<ColumnSettings>,
}

/// One mapped column.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSettings {
    /// The column name.
    pub name: String,
    /// JSON pointer into the body, e.g. `/customer/id`.
    pub pointer: String,
    /// `text`, `integer`, `real`, `boolean` or `json`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether a message without the value is refused. Default false.
    #[serde(default)]
    pub required: bool,
}

/// Default address of the ingest gateway (`PORT` for `natsapi ingest`).
pub const DEFAULT_INGEST_ADDR: &str = "0.0.0.0:8080";
/// Default ingest database file.
pub const DEFAULT_INGEST_DB: &str = "natsapi-ingest.db";

impl IngestSettings {
    /// The defaults of `mode`: `dev` runs the gateway and a worker, `serve` neither.
    pub fn defaults(mode: Mode) -> Self {
        let on = mode == Mode::Dev;
        IngestSettings {
            gateway: HttpSettings::defaults(mode, on, DEFAULT_INGEST_ADDR),
            worker_enabled: on,
            stream: "MESSAGES".into(),
            subject_prefix: "messages.ingest".into(),
            dead_letter_stream: "MESSAGES_DLQ".into(),
            dead_letter_prefix: "messages.dlq".into(),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
            database: IngestDatabase::Sqlite(PathBuf::from(DEFAULT_INGEST_DB)),
            temp_database: mode == Mode::Dev,
            consumer: "natsapi-worker".into(),
            batch_size: 256,
            max_attempts: 5,
            ack_wait: Duration::from_secs(30),
            entities: BTreeMap::new(),
            rpc: RpcSettings::default(),
        }
    }
}

/// YAML `ingest`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FileIngest {
    gateway: Option<FileGateway>,
    worker: Option<FileWorker>,
    stream: Option<FileStream>,
    database: Option<String>,
    entities: Option<BTreeMap<String, EntitySettings>>,
    rpc: Option<FileRpc>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileRpc {
    stream: Option<String>,
    subject_prefix: Option<String>,
    dead_letter_name: Option<String>,
    dead_letter_prefix: Option<String>,
    freshness: Option<String>,
    require_ts: Option<bool>,
    max_call_bytes: Option<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileGateway {
    enabled: Option<bool>,
    addr: Option<String>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileWorker {
    enabled: Option<bool>,
    consumer: Option<String>,
    batch_size: Option<String>,
    max_attempts: Option<String>,
    ack_wait: Option<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileStream {
    name: Option<String>,
    subject_prefix: Option<String>,
    dead_letter_name: Option<String>,
    dead_letter_prefix: Option<String>,
    max_bytes: Option<String>,
    duplicate_window: Option<String>,
}

/// A JetStream stream or consumer name: no spaces, `.`, `*`, `>`, `/` or `\`.
pub fn stream_name(s: &str) -> Result<String, String> {
    let bad = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
    if s.is_empty() || s.len() > 255 || s.chars().any(bad) {
        Err(format!("{s:?} is not a JetStream name (no spaces, '.', '*', '>', '/' or '\\')"))
    } else {
        Ok(s.to_owned())
    }
}

impl FileIngest {
    /// Whether the file names the ingest database.
    pub(crate) fn names_database(&self) -> bool {
        self.database.is_some()
    }

    /// Applies the file's values; `path` names the file in errors.
    pub(crate) fn apply(self, s: &mut IngestSettings, path: &Path) -> Result<(), ConfigError> {
        let at = |key: &str| {
            let key = format!("ingest.{key}");
            let file = path.to_owned();
            move |message: String| ConfigError::FileValue {
                file,
                key,
                line: None,
                column: None,
                message,
            }
        };
        fn put<T>(
            slot: &mut T,
            value: Option<String>,
            parse: impl Fn(&str) -> Result<T, String>,
            err: impl FnOnce(String) -> ConfigError,
        ) -> Result<(), ConfigError> {
            if let Some(v) = value {
                *slot = parse(&v).map_err(err)?;
            }
            Ok(())
        }
        let gateway = self.gateway.unwrap_or_default();
        if let Some(enabled) = gateway.enabled {
            s.gateway.enabled = enabled;
        }
        if gateway.addr.is_some() {
            s.gateway.any_port_if_busy = false;
        }
        put(&mut s.gateway.addr, gateway.addr, parse::http_addr, at("gateway.addr"))?;
        let limits = &mut s.gateway.limits;
        let timeout = at("gateway.headerReadTimeout");
        put(
            &mut limits.header_read_timeout,
            gateway.header_read_timeout,
            parse::duration,
            timeout,
        )?;
        put(
            &mut limits.idle_timeout,
            gateway.idle_timeout,
            parse::idle_timeout,
            at("gateway.idleTimeout"),
        )?;
        let max = at("gateway.maxConnections");
        put(&mut limits.max_connections, gateway.max_connections, parse::positive, max)?;
        let worker = self.worker.unwrap_or_default();
        if let Some(enabled) = worker.enabled {
            s.worker_enabled = enabled;
        }
        put(&mut s.consumer, worker.consumer, stream_name, at("worker.consumer"))?;
        put(&mut s.batch_size, worker.batch_size, parse::positive, at("worker.batchSize"))?;
        put(&mut s.max_attempts, worker.max_attempts, parse::positive, at("worker.maxAttempts"))?;
        put(&mut s.ack_wait, worker.ack_wait, parse::duration, at("worker.ackWait"))?;
        let stream = self.stream.unwrap_or_default();
        put(&mut s.stream, stream.name, stream_name, at("stream.name"))?;
        put(
            &mut s.subject_prefix,
            stream.subject_prefix,
            parse::subject,
            at("stream.subjectPrefix"),
        )?;
        put(
            &mut s.dead_letter_stream,
            stream.dead_letter_name,
            stream_name,
            at("stream.deadLetterName"),
        )?;
        put(
            &mut s.dead_letter_prefix,
            stream.dead_letter_prefix,
            parse::subject,
            at("stream.deadLetterPrefix"),
        )?;
        put(&mut s.max_bytes, stream.max_bytes, parse::byte_size, at("stream.maxBytes"))?;
        put(
            &mut s.duplicate_window,
            stream.duplicate_window,
            parse::duration,
            at("stream.duplicateWindow"),
        )?;
        if self.database.is_some() {
            s.temp_database = false;
        }
        put(&mut s.database, self.database, IngestDatabase::parse, at("database"))?;
        if let Some(entities) = self.entities {
            s.entities = entities;
        }
        let rpc = self.rpc.unwrap_or_default();
        let r = &mut s.rpc;
        put(&mut r.stream, rpc.stream, stream_name, at("rpc.stream"))?;
        put(&mut r.subject_prefix, rpc.subject_prefix, parse::subject, at("rpc.subjectPrefix"))?;
        put(
            &mut r.dead_letter_stream,
            rpc.dead_letter_name,
            stream_name,
            at("rpc.deadLetterName"),
        )?;
        let prefix = at("rpc.deadLetterPrefix");
        put(&mut r.dead_letter_prefix, rpc.dead_letter_prefix, parse::subject, prefix)?;
        put(&mut r.freshness, rpc.freshness, parse::duration, at("rpc.freshness"))?;
        if let Some(require) = rpc.require_ts {
            r.require_ts = require;
        }
        put(&mut r.max_call_bytes, rpc.max_call_bytes, parse::byte_size, at("rpc.maxCallBytes"))?;
        Ok(())
    }
}
