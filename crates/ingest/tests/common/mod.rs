//! A gateway (and optionally workers) on a real nats-server and a SQLite file, served over real
//! HTTP on a free port.

#![allow(dead_code, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use natsapi_core::SystemClock;
use natsapi_ingest::db::{DbSettings, Durability, IngestDb};
use natsapi_ingest::gateway::{Gateway, GatewaySettings};
use natsapi_ingest::handler::MessageHandler;
use natsapi_ingest::stream::StreamSettings;
use natsapi_ingest::worker::{Worker, WorkerSettings};
use natsapi_testkit::NatsServer;
use serde_json::Value;
use tokio::sync::oneshot;

pub struct Harness {
    pub nats: NatsServer,
    pub dir: tempfile::TempDir,
    pub db: IngestDb,
    pub base: String,
    pub http: reqwest::Client,
    pub streams: StreamSettings,
    pub gateway: Gateway,
    stop_http: Option<oneshot::Sender<()>>,
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

/// A gateway on the data file in `dir`, served over HTTP on a free port: the gateway, its base
/// URL and the sender that stops its HTTP server.
async fn serve_gateway(
    nats: &NatsServer,
    dir: &std::path::Path,
    streams: &StreamSettings,
) -> (Gateway, String, oneshot::Sender<()>) {
    let data = DbSettings { path: dir.join("ingest.db"), durability: Durability::Full };
    let gateway = Gateway::start(
        connect(nats).await,
        &data,
        streams.clone(),
        GatewaySettings { publish_timeout: Duration::from_secs(2), ..Default::default() },
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

impl Harness {
    pub async fn start() -> Self {
        let nats = NatsServer::builder().jetstream(true).start().expect("nats-server");
        let dir = tempfile::tempdir().unwrap();
        let data = DbSettings { path: dir.path().join("ingest.db"), durability: Durability::Full };
        let db = IngestDb::open(&data).unwrap();
        let streams = StreamSettings::default();
        let (gateway, base, stop_http) = serve_gateway(&nats, dir.path(), &streams).await;
        Harness {
            nats,
            dir,
            db,
            base,
            http: reqwest::Client::new(),
            streams,
            gateway,
            stop_http: Some(stop_http),
        }
    }

    /// Stops the gateway's HTTP server and starts a new gateway on the same files, as a restarted
    /// process would (the old one's state is gone; only the files remain).
    pub async fn restart_gateway(&mut self) {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        let (gateway, base, stop_http) =
            serve_gateway(&self.nats, self.dir.path(), &self.streams).await;
        self.gateway = gateway;
        self.base = base;
        self.stop_http = Some(stop_http);
    }

    /// Starts a worker task; dropping the returned sender stops it.
    pub async fn worker(
        &self,
        settings: WorkerSettings,
        handlers: Vec<Arc<dyn MessageHandler>>,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let worker = Worker::start(
            connect(&self.nats).await,
            self.db.clone(),
            self.streams.clone(),
            settings,
            handlers,
            Arc::new(SystemClock),
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

    /// A count from the gateway's own file (the messages it accepted).
    pub fn gateway_count(&self, sql: &str) -> i64 {
        let path = natsapi_ingest::db::gateway_path(&self.dir.path().join("ingest.db"));
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// A count from the worker's data file.
    pub async fn count(&self, sql: &'static str) -> i64 {
        self.db.read(move |conn| Ok(conn.query_row(sql, [], |r| r.get(0))?)).await.unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
    }
}
