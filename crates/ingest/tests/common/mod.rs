//! A gateway (and optionally workers) on a real nats-server and a real database (a SQLite file,
//! or a PostgreSQL database of the test's own), served over real HTTP on a free port.

#![allow(dead_code, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use natsapi_core::sql::SqlValue;
use natsapi_core::{Operation, Reply, Success, SystemClock, Tx, TxError};
use natsapi_ingest::gateway::{Gateway, GatewaySettings};
use natsapi_ingest::handler::MessageHandler;
use natsapi_ingest::rpc::{Freshness, RpcSettings};
use natsapi_ingest::stream::StreamSettings;
use natsapi_ingest::worker::{Worker, WorkerSettings};
use natsapi_store::postgres::PostgresConfig;
use natsapi_store::{Store, StoreConfig};
use natsapi_testkit::{NatsServer, TestDatabase};
use serde_json::Value;
use tokio::sync::oneshot;

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs each `async fn name(db: Db)` as two tests, `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::common::Db::Sqlite).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::common::Db::Postgres).await
                }
            }
        )*
    };
}

/// Where a test's store lives, removed when dropped.
pub struct Place {
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
}

impl Place {
    pub fn new(db: Db) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = (db == Db::Postgres)
            .then(|| TestDatabase::create().unwrap_or_else(|e| panic!("a test database: {e}")));
        Place { dir, database }
    }

    /// The store's settings: a SQLite file in the directory, or the test database.
    pub fn config(&self) -> StoreConfig {
        match &self.database {
            None => StoreConfig::sqlite(self.dir.path().join("ingest.db")),
            Some(database) => StoreConfig::Postgres(PostgresConfig {
                url: database.url().to_owned(),
                pool_size: 4,
                ..PostgresConfig::default()
            }),
        }
    }

    /// Opens a store on the place, as a process of its own would.
    pub fn open(&self) -> Store {
        Store::open(&self.config(), Arc::new(SystemClock)).expect("the store opens")
    }
}

pub struct Harness {
    pub db: Db,
    pub nats: NatsServer,
    pub store: Store,
    pub base: String,
    pub http: reqwest::Client,
    pub streams: StreamSettings,
    /// Signed calls: the shipped methods, and a freshness window of 1 minute.
    pub rpc: RpcSettings,
    pub gateway: Gateway,
    stop_http: Option<oneshot::Sender<()>>,
    /// Last: the database outlives the store.
    pub place: Place,
}

/// Worker settings that retry fast.
pub fn fast_worker() -> WorkerSettings {
    WorkerSettings {
        retry_delays: vec![Duration::from_millis(50)],
        max_attempts: 3,
        ..WorkerSettings::default()
    }
}

pub async fn connect(nats: &NatsServer) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(nats.url())
        .await
        .expect("connect to nats-server")
}

/// A gateway on `store`, served over HTTP on a free port: the gateway, its base URL and the
/// sender that stops its HTTP server.
async fn serve_gateway(
    nats: &NatsServer,
    store: Store,
    streams: &StreamSettings,
    rpc: &RpcSettings,
) -> (Gateway, String, oneshot::Sender<()>) {
    let gateway = Gateway::start(
        connect(nats).await,
        store,
        streams.clone(),
        GatewaySettings { publish_timeout: Duration::from_secs(2), ..Default::default() },
        rpc.clone(),
        Arc::new(SystemClock),
    )
    .await
    .expect("gateway starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_http, stopped) = oneshot::channel::<()>();
    let router = gateway.router();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (gateway, base, stop_http)
}

/// Counts with a query on the read path: the first column of the first row.
#[derive(Clone)]
struct Count(String);

impl Operation for Count {
    type Output = i64;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<i64>, TxError> {
        let rows = tx.query(&self.0, &[])?;
        let n = rows.first().and_then(|row| row.first()).and_then(SqlValue::as_i64);
        Ok(Ok(Success::ok(n.unwrap_or_else(|| panic!("{}: no count in {rows:?}", self.0)))))
    }

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// A count from `store` (a portable query).
pub async fn count_in(store: &Store, sql: &str) -> i64 {
    match store.run(Count(sql.to_owned())).await {
        Ok(Ok(success)) => success.value,
        other => panic!("{sql}: {other:?}"),
    }
}

impl Harness {
    pub async fn start(db: Db) -> Self {
        let nats = NatsServer::builder().jetstream(true).start().expect("nats-server");
        let place = Place::new(db);
        let store = place.open();
        let streams = StreamSettings::default();
        let rpc = RpcSettings {
            freshness: Freshness { window: Duration::from_secs(60), require_ts: false },
            ..RpcSettings::default()
        };
        let (gateway, base, stop_http) = serve_gateway(&nats, store.clone(), &streams, &rpc).await;
        Harness {
            db,
            nats,
            store,
            base,
            http: reqwest::Client::new(),
            streams,
            rpc,
            gateway,
            stop_http: Some(stop_http),
            place,
        }
    }

    /// Stops the gateway's HTTP server and starts a new gateway on the same database, as a
    /// restarted process would (the old one's state is gone; only the database remains).
    pub async fn restart_gateway(&mut self) {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        let (gateway, base, stop_http) =
            serve_gateway(&self.nats, self.place.open(), &self.streams, &self.rpc).await;
        self.gateway = gateway;
        self.base = base;
        self.stop_http = Some(stop_http);
    }

    /// Starts a worker task on the harness's store; dropping the returned sender stops it.
    pub async fn worker(
        &self,
        settings: WorkerSettings,
        handlers: Vec<Arc<dyn MessageHandler>>,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        self.worker_on(self.store.clone(), settings, handlers).await
    }

    /// Starts a worker task on `store`; dropping the returned sender stops it.
    pub async fn worker_on(
        &self,
        store: Store,
        settings: WorkerSettings,
        handlers: Vec<Arc<dyn MessageHandler>>,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let worker = Worker::start(
            connect(&self.nats).await,
            store,
            self.streams.clone(),
            settings,
            handlers,
            self.rpc.clone(),
        )
        .await
        .expect("worker starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        (stop, task)
    }

    pub async fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body.to_owned());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Polls the status endpoint until `id` reaches `status` (10 s at most).
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (code, body) = self.get(&format!("/ingest/status/{id}")).await;
            assert_eq!(code, 200, "status of {id}: {body}");
            if body["status"] == status {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "{id} never reached {status}: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many messages the stream holds.
    pub async fn stream_messages(&self, name: &str) -> u64 {
        let js = async_nats::jetstream::new(connect(&self.nats).await);
        let mut stream = js.get_stream(name).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    /// A count from the database (a query both SQLite and PostgreSQL read).
    pub async fn count(&self, sql: &str) -> i64 {
        count_in(&self.store, sql).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
    }
}
