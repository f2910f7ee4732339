//! The ingest roles: the gateway (`natsapi ingest`, or `--ingest-enable` in `serve`/`dev`) and
//! the worker (`natsapi worker`, or `--worker-enable`). Each has its own NATS connection, so heavy
//! publishing never starves the consumer; both share one database handle.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use natsapi_config::{Mode, ServerArgs, Settings};
use natsapi_core::SystemClock;
use natsapi_ingest::db::{DbSettings, Durability, IngestDb};
use natsapi_ingest::gateway::{Gateway, GatewaySettings};
use natsapi_ingest::handler::MessageHandler;
use natsapi_ingest::mapping::{Column, ColumnType, EntityMappings, EntityTable};
use natsapi_ingest::stream::StreamSettings;
use natsapi_ingest::worker::{Worker, WorkerSettings};
use tokio::sync::oneshot;
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
/// the role on. The seed's variables `NATS_URL`, `NATS_STREAM` and `PORT` apply when the
/// `NATSAPI_*` ones and the flags do not say.
pub fn run(role: Role, args: ServerArgs) -> anyhow::Result<ExitCode> {
    let mut settings = natsapi_config::load(Mode::Serve, &args)?;
    apply_seed_env(&mut settings, &args)?;
    settings.api.nats.enabled = false;
    settings.api.http.enabled = false;
    settings.api.poll.enabled = false;
    match role {
        Role::Gateway => {
            settings.ingest.gateway.enabled = true;
            settings.ingest.worker_enabled = args.worker_enable.unwrap_or(false);
        }
        Role::Worker => {
            settings.ingest.worker_enabled = true;
            settings.ingest.gateway.enabled = args.ingest_enable.unwrap_or(false);
        }
    }
    logging::init(&settings.log);
    super::runtime(settings.runtime.worker_threads.resolve())?
        .block_on(super::serve::serve(&settings))
}

fn apply_seed_env(settings: &mut Settings, args: &ServerArgs) -> anyhow::Result<()> {
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
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    /// The gateway's address, when it runs.
    pub gateway_addr: Option<std::net::SocketAddr>,
}

impl Running {
    /// Stops the gateway (finishing requests in flight) and the worker (finishing its batch).
    pub async fn shutdown(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
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

async fn connect(settings: &Settings, name: &str) -> anyhow::Result<async_nats::Client> {
    let nats = &settings.api.nats;
    let addr = natsapi_client::connection::redact_addr(&nats.addr);
    nats.connection
        .connect_options(&nats.addr)
        .context("NATS connection settings")?
        .name(name)
        .connect(nats.addr.as_str())
        .await
        .with_context(|| format!("cannot connect to NATS at {addr}"))
}

/// Starts the ingest roles the settings enable; `None` when none is.
pub async fn start(settings: &Settings) -> anyhow::Result<Option<Running>> {
    let ingest = &settings.ingest;
    if !ingest.gateway.enabled && !ingest.worker_enabled {
        return Ok(None);
    }
    let durability = match settings.store.sqlite.synchronous {
        natsapi_config::Synchronous::Full => Durability::Full,
        natsapi_config::Synchronous::Normal => Durability::Normal,
    };
    let data = DbSettings { path: ingest.database.clone(), durability };
    let streams = StreamSettings {
        name: ingest.stream.clone(),
        subject_prefix: ingest.subject_prefix.clone(),
        dead_letter_name: ingest.dead_letter_stream.clone(),
        dead_letter_prefix: ingest.dead_letter_prefix.clone(),
        max_bytes: i64::try_from(ingest.max_bytes).unwrap_or(i64::MAX),
        duplicate_window: ingest.duplicate_window,
    };
    let mut running = Running { stops: Vec::new(), tasks: Vec::new(), gateway_addr: None };
    if ingest.worker_enabled {
        let settings_for_worker = WorkerSettings {
            consumer: ingest.consumer.clone(),
            batch_size: ingest.batch_size,
            ack_wait: ingest.ack_wait,
            max_attempts: i64::try_from(ingest.max_attempts).unwrap_or(i64::MAX),
            ..WorkerSettings::default()
        };
        let db = IngestDb::open(&data)
            .with_context(|| format!("ingest database {}", ingest.database.display()))?;
        let worker = Worker::start(
            connect(settings, "natsapi-worker").await?,
            db,
            streams.clone(),
            settings_for_worker,
            handlers(settings)?,
            Arc::new(SystemClock),
        )
        .await
        .context("cannot start the worker")?;
        let (stop, stopped) = oneshot::channel::<()>();
        running.stops.push(stop);
        running.tasks.push(tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        })));
        tracing::info!(stream = %ingest.stream, consumer = %ingest.consumer, "worker running");
    }
    if ingest.gateway.enabled {
        let gateway = Gateway::start(
            connect(settings, "natsapi-ingest").await?,
            &data,
            streams,
            GatewaySettings { prune_interval: ingest.prune_interval, ..Default::default() },
            Arc::new(SystemClock),
        )
        .await
        .context("cannot start the ingest gateway")?;
        let listener = tokio::net::TcpListener::bind(&ingest.gateway.addr)
            .await
            .with_context(|| format!("cannot listen on {}", ingest.gateway.addr))?;
        let local = listener.local_addr()?;
        running.gateway_addr = Some(local);
        let (stop, stopped) = oneshot::channel::<()>();
        let router = gateway.router();
        running.stops.push(stop);
        running.tasks.push(tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the ingest gateway stopped");
            }
        }));
        tracing::info!(addr = %local, stream = %ingest.stream, "ingest gateway listening");
    }
    Ok(Some(running))
}
