//! Shared setup for the server's integration tests: a real nats-server per test and a natsapi
//! server on a manual clock.

#![allow(dead_code)]

pub mod http;
pub mod store;

use std::time::Duration;

use natsapi_client::{Client, Reply};
use natsapi_core::{Operation, Promise, Reply as DomainReply, Success, Tx, TxError};
use natsapi_server::nats::NatsConfig;
use natsapi_server::{RunningServer, ServerConfig, Time};
use natsapi_store::StoreConfig;
use natsapi_testkit::NatsServer;
use serde_json::Value;

/// The manual clock's starting time.
pub const T0: i64 = 1_700_000_000_000;

/// A NATS config for `url` and `subject` with test-friendly limits.
pub fn nats_config(url: &str, subject: &str) -> NatsConfig {
    NatsConfig {
        addr: url.to_owned(),
        subject: subject.to_owned(),
        queue_group: "natsapi".into(),
        max_payload: 64 * 1024,
        max_inflight: 256,
        drain_timeout: Duration::from_secs(5),
        connection: Default::default(),
    }
}

/// A nats-server, a natsapi server on a manual clock, and a client.
pub struct Harness {
    pub nats: NatsServer,
    pub server: Option<RunningServer>,
    pub time: Time,
    pub client: Client,
    /// The database of [`Harness::start`]'s store, dropped after the server.
    pub store: Option<store::TestStore>,
}

impl Harness {
    /// A harness on the store `NATSAPI_TEST_STORE` names (in memory by default).
    pub async fn start() -> Harness {
        let store = store::TestStore::from_env();
        let mut harness = Harness::start_with(store.config.clone()).await;
        harness.store = Some(store);
        harness
    }

    pub async fn start_with(store: StoreConfig) -> Harness {
        Harness::start_configured(store, Default::default()).await
    }

    /// A harness whose server knows the logical task receivers `targets`.
    pub async fn start_configured(
        store: StoreConfig,
        targets: std::collections::BTreeMap<String, String>,
    ) -> Harness {
        let nats = NatsServer::start().expect("nats-server starts");
        let time = Time::manual(T0);
        let config = ServerConfig {
            store,
            nats: Some(nats_config(&nats.url(), "resonate.server")),
            http: Some("127.0.0.1:0".into()),
            poll: Some("127.0.0.1:0".into()),
            targets,
            http_auth: None,
        };
        let server = RunningServer::start(config, time.clone()).await.expect("server starts");
        let client = Client::connect(&nats.url(), "resonate.server")
            .await
            .expect("client connects")
            .with_timeout(Duration::from_secs(5));
        Harness { nats, server: Some(server), time, client, store: None }
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("server running")
    }

    pub async fn call(&self, operation: &str, payload: Value) -> Reply {
        self.client.call(operation, payload).await.expect("a reply")
    }

    /// The stored promise, read without the lazy timeout.
    pub async fn peek(&self, id: &str) -> Option<Promise> {
        self.server()
            .api()
            .store()
            .run(Peek(id.to_owned()))
            .await
            .expect("store answers")
            .expect("peek succeeds")
            .value
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// Reads a promise as stored, without timing it out.
#[derive(Clone)]
pub struct Peek(pub String);

impl Operation for Peek {
    type Output = Option<Promise>;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<DomainReply<Option<Promise>>, TxError> {
        Ok(Ok(Success::ok(tx.promise(&self.0)?)))
    }
}

/// Asserts a failed reply with this code whose message contains `needle`.
pub fn assert_error(reply: &Reply, code: u16, needle: &str) {
    assert!(!reply.success, "expected failure, got {reply:?}");
    let error = reply.error.as_ref().expect("error body");
    assert_eq!(error.code, code, "{reply:?}");
    assert!(error.message.contains(needle), "message {:?} lacks {needle:?}", error.message);
    assert!(reply.response.is_none());
}
