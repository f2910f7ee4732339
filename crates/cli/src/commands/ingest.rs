//! The ingest roles: the gateway (`natsapi ingest`, or `--ingest-enable` in `serve`/`dev`) and
//! the worker (`natsapi worker`, or `--worker-enable`). Each has its own NATS connection, so heavy
//! publishing never starves the consumer; both share one store (the ingest database).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use natsapi_config::{Mode, ServerArgs, Settings};
use natsapi_core::SystemClock;
use natsapi_ingest::gateway::{Gateway, GatewaySettings};
use natsapi_ingest::handler::MessageHandler;
use natsapi_ingest::mapping::{Column, ColumnType, EntityMappings, EntityTable};
use natsapi_ingest::rpc::{Freshness, Methods, RpcSettings};
use natsapi_ingest::stream::StreamSettings;
use natsapi_ingest::worker::{Worker, WorkerSettings};
use natsapi_server::listen::HttpServer;
use natsapi_store::{Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::logging;

/// Which role a standalone command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `natsapi ingest`: the gateway.
    Gateway,
    /// `natsapi worker`: the worker.
    Worker,
}

/// Runs `natsapi ingest` or `natsapi worker`: the server's settings with the promise API off and
/// the role on. The variables `NATS_URL`, `NATS_STREAM` and `PORT` apply when the
/// `NATSAPI_*` ones and the flags do not say.
pub fn run(role: Role, args: ServerArgs) -> anyhow::Result<ExitCode> {
    let mut settings = natsapi_config::load(Mode::Serve, &args)?;
    apply_plain_env(&mut settings, &args)?;
    settings.api.nats.enabled = false;
    settings.api.http.enabled = false;
    settings.api.poll.enabled = false;
    settings.ingest.gateway.enabled = role == Role::Gateway;
    settings.ingest.worker_enabled = role == Role::Worker;
    logging::init(&settings.log);
    super::block_on(&settings, super::serve::serve(&settings))
}

/// Applies the variables `NATS_URL`, `NATS_STREAM` and `PORT` (ingest and worker deployments
/// often set these), when no flag or `NATSAPI_*` variable says otherwise.
fn apply_plain_env(settings: &mut Settings, args: &ServerArgs) -> anyhow::Result<()> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if args.api_nats_addr.is_none()
        && let Some(url) = var("NATS_URL")
    {
        settings.api.nats.addr =
            natsapi_config::parse::nats_addr(&url).map_err(|e| anyhow::anyhow!("NATS_URL: {e}"))?;
    }
    if args.ingest_stream.is_none()
        && let Some(stream) = var("NATS_STREAM")
    {
        settings.ingest.stream = natsapi_config::stream_name(&stream)
            .map_err(|e| anyhow::anyhow!("NATS_STREAM: {e}"))?;
    }
    if args.ingest_addr.is_none()
        && let Some(port) = var("PORT")
    {
        let port: u16 = port.trim().parse().map_err(|e| anyhow::anyhow!("PORT {port:?}: {e}"))?;
        settings.ingest.gateway.addr = format!("0.0.0.0:{port}");
    }
    Ok(())
}

/// The running ingest roles.
pub struct Running {
    gateway: Option<HttpServer>,
    stop: watch::Sender<bool>,
    worker: Option<JoinHandle<()>>,
    /// The gateway's address, when it runs.
    pub gateway_addr: Option<std::net::SocketAddr>,
    /// The worker's database, when a worker runs.
    pub worker_database: Option<natsapi_config::IngestDatabase>,
}

impl Running {
    /// Stops taking work at once: the gateway's listener closes (requests in flight go on) and
    /// the worker stops pulling (batches in flight go on).
    pub fn stop_accepting(&self) {
        if let Some(gateway) = &self.gateway {
            gateway.stop_accepting();
        }
        self.stop.send_replace(true);
    }

    /// Stops taking work (if not done yet) and waits for the gateway's requests in flight and
    /// the worker's batches.
    pub async fn finish(mut self) {
        self.stop_accepting();
        let gateway = async {
            if let Some(gateway) = self.gateway.take() {
                gateway.finished().await;
            }
        };
        let worker = async {
            if let Some(worker) = self.worker.take() {
                let _ = worker.await;
            }
        };
        futures::join!(gateway, worker);
    }
}

/// Binds the gateway's listener when the gateway is enabled, before anything else starts, so
/// a busy port fails the start before the API joins its queue group.
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(settings: &Settings) -> anyhow::Result<Option<TcpListener>> {
    let gateway = &settings.ingest.gateway;
    if !gateway.enabled {
        return Ok(None);
    }
    let listener =
        crate::settings::listen_config(gateway).bind().await.context("ingest gateway")?;
    Ok(Some(listener))
}

/// The handlers the settings describe: the entity mapping, when any entity is mapped.
fn handlers(settings: &Settings) -> anyhow::Result<Vec<Arc<dyn MessageHandler>>> {
    let mut tables = std::collections::BTreeMap::new();
    for (entity, table) in &settings.ingest.entities {
        let mut columns = Vec::new();
        for c in &table.columns {
            let kind = ColumnType::parse(&c.kind).with_context(|| {
                format!(
                    "ingest.entities.{entity}: column {}: type {:?} is not one of text, integer, \
                     real, boolean, json",
                    c.name, c.kind
                )
            })?;
            columns.push(Column {
                name: c.name.clone(),
                pointer: c.pointer.clone(),
                kind,
                required: c.required,
            });
        }
        tables.insert(entity.clone(), EntityTable { table: table.table.clone(), columns });
    }
    let mappings = EntityMappings::new(tables).context("ingest.entities")?;
    Ok(if mappings.is_empty() { Vec::new() } else { vec![Arc::new(mappings)] })
}

/// The signed calls' settings: the shipped methods, the call streams (with the message streams'
/// size limit and duplicate window) and the limits the settings give.
fn rpc_settings(rpc: &natsapi_config::RpcSettings, streams: &StreamSettings) -> RpcSettings {
    RpcSettings {
        methods: Methods::shipped(),
        streams: StreamSettings {
            name: rpc.stream.clone(),
            subject_prefix: rpc.subject_prefix.clone(),
            dead_letter_name: rpc.dead_letter_stream.clone(),
            dead_letter_prefix: rpc.dead_letter_prefix.clone(),
            ..streams.clone()
        },
        freshness: Freshness { window: rpc.freshness, require_ts: rpc.require_ts },
        max_call_bytes: rpc.max_call_bytes,
    }
}

async fn connect(settings: &Settings, name: &str) -> anyhow::Result<async_nats::Client> {
    let nats = &settings.api.nats;
    Ok(natsapi_server::nats::connect(&nats.addr, &nats.connection, name).await?)
}

/// Starts the ingest roles the settings enable, the gateway on `listener` (from [`bind`]);
/// `None` when none is enabled. When the ingest database is the one the API server of this
/// process opened (`api_store`, with its configuration), the roles share that store (its writers
/// and connections) instead of opening the database a second time.
pub async fn start(
    settings: &Settings,
    listener: Option<TcpListener>,
    api_store: Option<(Store, StoreConfig)>,
) -> anyhow::Result<Option<Running>> {
    let ingest = &settings.ingest;
    if listener.is_none() && !ingest.worker_enabled {
        return Ok(None);
    }
    let config = crate::settings::ingest_store_config(settings);
    let store = match api_store {
        Some((store, api_config)) if api_config == config => store,
        _ => {
            // Opening blocks (migrations, connecting): off the runtime's threads.
            let opening = config.clone();
            tokio::task::spawn_blocking(move || Store::open(&opening, Arc::new(SystemClock)))
                .await
                .context("opening the ingest database")?
                .with_context(|| {
                    format!("ingest database {}", crate::settings::describe_store(&config))
                })?
        }
    };
    let streams = StreamSettings {
        name: ingest.stream.clone(),
        subject_prefix: ingest.subject_prefix.clone(),
        dead_letter_name: ingest.dead_letter_stream.clone(),
        dead_letter_prefix: ingest.dead_letter_prefix.clone(),
        max_bytes: i64::try_from(ingest.max_bytes).unwrap_or(i64::MAX),
        duplicate_window: ingest.duplicate_window,
    };
    let rpc = rpc_settings(&ingest.rpc, &streams);
    let (stop, stopped) = watch::channel(false);
    let mut running =
        Running { gateway: None, stop, worker: None, gateway_addr: None, worker_database: None };
    if ingest.worker_enabled {
        let settings_for_worker = WorkerSettings {
            consumer: ingest.consumer.clone(),
            batch_size: ingest.batch_size,
            ack_wait: ingest.ack_wait,
            max_attempts: i64::try_from(ingest.max_attempts).unwrap_or(i64::MAX),
            ..WorkerSettings::default()
        };
        let worker = Worker::start(
            connect(settings, "natsapi-worker").await?,
            store.clone(),
            streams.clone(),
            settings_for_worker,
            handlers(settings)?,
            rpc.clone(),
        )
        .await
        .context("cannot start the worker")?;
        let mut stopped = stopped.clone();
        running.worker = Some(tokio::spawn(worker.run(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })));
        running.worker_database = Some(ingest.database.clone());
    }
    if let Some(listener) = listener {
        let gateway = Gateway::start(
            connect(settings, "natsapi-ingest").await?,
            store,
            streams,
            GatewaySettings::default(),
            rpc,
            Arc::new(SystemClock),
        )
        .await
        .context("cannot start the ingest gateway")?;
        let limits = crate::settings::listen_config(&ingest.gateway).limits;
        let server = HttpServer::start(listener, gateway.router(), limits)
            .context("cannot serve the ingest gateway")?;
        running.gateway_addr = Some(server.addr());
        running.gateway = Some(server);
    }
    Ok(Some(running))
}
