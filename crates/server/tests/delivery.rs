//! Task delivery against real receivers: a nats-server per test, and a local axum server
//! receiving the HTTP POSTs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes as BodyBytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use futures::StreamExt;
use natsapi_server::delivery::{
    Cast, Deliverer, DeliveryConfig, DeliveryError, Outbound, PollHub, RecvError, Targets,
};
use natsapi_testkit::NatsServer;

const BODY: &str = r#"{"type":"invoke","task":{"id":"__invoke:p1","counter":3}}"#;

fn outbound(recv: &str) -> Outbound {
    Outbound {
        task_id: "__invoke:p1".into(),
        counter: 3,
        recv: recv.to_owned(),
        body: Bytes::from_static(BODY.as_bytes()),
        head: [("traceparent".to_owned(), TRACEPARENT.to_owned())].into(),
        exact: false,
    }
}

/// The trace context the test task carries.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Quick timeouts so the slow-receiver and disconnected tests are short.
fn config() -> DeliveryConfig {
    DeliveryConfig {
        nats_flush_timeout: Duration::from_millis(200),
        http_timeout: Duration::from_millis(200),
    }
}

async fn nats() -> (NatsServer, async_nats::Client) {
    let server = tokio::task::spawn_blocking(NatsServer::start).await.unwrap().unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    (server, client)
}

async fn deliverer(targets: Targets) -> (NatsServer, async_nats::Client, Deliverer) {
    let (server, client) = nats().await;
    let deliverer = Deliverer::new(Some(client.clone()), targets, config()).unwrap();
    (server, client, deliverer)
}

#[tokio::test]
async fn nats_delivery_publishes_the_body_with_a_message_id() {
    let (_server, client, deliverer) = deliverer(Targets::new()).await;
    let mut sub = client.subscribe("workers.tasks").await.unwrap();
    client.flush().await.unwrap();

    deliverer.deliver(&outbound(r#""nats://workers.tasks""#)).await.unwrap();

    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.unwrap().unwrap();
    assert_eq!(msg.payload, BODY.as_bytes());
    let headers = msg.headers.expect("headers");
    assert_eq!(headers.get("Nats-Msg-Id").map(|v| v.as_str()), Some("__invoke:p1:3"));
    assert_eq!(headers.get("traceparent").map(|v| v.as_str()), Some(TRACEPARENT));
}

#[tokio::test]
async fn nats_delivery_by_object_and_target_name() {
    let targets = Targets::from([("orders".into(), "nats://orders.tasks".into())]);
    let (_server, client, deliverer) = deliverer(targets).await;
    let mut sub = client.subscribe("orders.>").await.unwrap();
    client.flush().await.unwrap();

    deliverer.deliver(&outbound(r#""orders""#)).await.unwrap();
    let recv = r#"{"type":"nats","data":{"subject":"orders.other"}}"#;
    deliverer.deliver(&outbound(recv)).await.unwrap();

    for want in ["orders.tasks", "orders.other"] {
        let msg = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.unwrap().unwrap();
        assert_eq!(msg.subject.as_str(), want);
    }
}

#[tokio::test]
async fn a_jetstream_stream_keeps_one_copy_per_task_counter() {
    let (_server, client, deliverer) = deliverer(Targets::new()).await;
    let js = async_nats::jetstream::new(client.clone());
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "TASKS".into(),
            subjects: vec!["tasks.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();

    let first = outbound(r#""nats://tasks.a""#);
    deliverer.deliver(&first).await.unwrap();
    deliverer.deliver(&first).await.unwrap();
    deliverer.deliver(&Outbound { counter: 4, ..first }).await.unwrap();

    // A publish acknowledged by the stream comes after the deliveries on the same connection.
    js.publish("tasks.barrier", Bytes::new()).await.unwrap().await.unwrap();
    let messages = stream.info().await.unwrap().state.messages;
    assert_eq!(messages, 3, "two deliveries and the barrier: the same counter is a duplicate");
}

#[tokio::test]
async fn nats_delivery_fails_by_timeout_while_disconnected() {
    let (mut server, client, deliverer) = deliverer(Targets::new()).await;
    server.stop();
    for _ in 0..250 {
        if client.connection_state() != async_nats::connection::State::Connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(client.connection_state(), async_nats::connection::State::Connected);
    // async-nats buffers the publish while it reconnects; only the flush tells.
    let started = std::time::Instant::now();
    let err = deliverer.deliver(&outbound(r#""nats://workers.tasks""#)).await.unwrap_err();
    assert!(matches!(err, DeliveryError::FlushTimeout { .. }), "{err:?}");
    assert!(err.is_timeout());
    assert!(started.elapsed() < Duration::from_secs(1), "gave up after {:?}", started.elapsed());
}

/// What the HTTP receiver saw: content type and body of each POST.
type Seen = Arc<Mutex<Vec<(Option<String>, BodyBytes)>>>;

async fn record(State(seen): State<Seen>, headers: HeaderMap, body: BodyBytes) -> StatusCode {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.lock().unwrap().push((content_type, body));
    StatusCode::OK
}

/// A local HTTP receiver: `/ok` records and answers 200, `/fail` 500, `/created` 201, `/slow`
/// answers 200 after 2 s.
async fn receiver() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/ok", post(record))
        .route("/fail", post(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/created", post(|| async { StatusCode::CREATED }))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                StatusCode::OK
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

fn http_recv(addr: SocketAddr, path: &str) -> String {
    format!(r#""http://{addr}{path}""#)
}

#[tokio::test]
async fn http_delivery_posts_json_and_needs_a_200() {
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    let (addr, seen) = receiver().await;

    deliverer.deliver(&outbound(&http_recv(addr, "/ok"))).await.unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0.as_deref(), Some("application/json"));
        assert_eq!(seen[0].1, BODY.as_bytes());
    }

    let err = deliverer.deliver(&outbound(&http_recv(addr, "/fail"))).await.unwrap_err();
    assert!(matches!(err, DeliveryError::HttpStatus { status: 500, .. }), "{err:?}");
    assert!(err.to_string().contains("answered 500"), "{err}");

    let err = deliverer.deliver(&outbound(&http_recv(addr, "/created"))).await.unwrap_err();
    assert!(matches!(err, DeliveryError::HttpStatus { status: 201, .. }), "only 200: {err:?}");
}

#[tokio::test]
async fn http_delivery_by_object_form() {
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    let (addr, seen) = receiver().await;
    let recv = format!(r#"{{"type":"http","data":{{"url":"http://{addr}/ok"}}}}"#);
    deliverer.deliver(&outbound(&recv)).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn http_delivery_to_a_closed_port_fails() {
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = deliverer.deliver(&outbound(&http_recv(addr, "/ok"))).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Http { .. }), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn http_delivery_to_a_slow_receiver_times_out() {
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    let (addr, _seen) = receiver().await;
    let started = std::time::Instant::now();
    let err = deliverer.deliver(&outbound(&http_recv(addr, "/slow"))).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "gave up after {:?}", started.elapsed());
}

#[tokio::test]
async fn poll_delivery_without_a_hub_fails_naming_it() {
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    for recv in [r#""default""#, r#""poll://uni@workers/w1""#] {
        let err = deliverer.deliver(&outbound(recv)).await.unwrap_err();
        assert!(matches!(err, DeliveryError::NoPollHub { .. }), "{err:?}");
        assert!(err.to_string().contains("no poll hub is registered"), "{err}");
    }
}

/// One message a poll hub was given: group, id, cast, body.
type Handed = (String, Option<String>, Cast, Bytes);

/// A hub that keeps what it is given.
#[derive(Default)]
struct KeepingHub {
    got: Mutex<Vec<Handed>>,
}

impl PollHub for KeepingHub {
    fn deliver(
        &self,
        group: &str,
        id: Option<&str>,
        cast: Cast,
        body: Bytes,
    ) -> Result<(), DeliveryError> {
        self.got.lock().unwrap().push((group.to_owned(), id.map(str::to_owned), cast, body));
        Ok(())
    }
}

#[tokio::test]
async fn poll_delivery_goes_to_the_registered_hub() {
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    let hub = Arc::new(KeepingHub::default());
    deliverer.clone().register_poll_hub(hub.clone());
    deliverer.deliver(&outbound(r#""default""#)).await.unwrap();
    deliverer.deliver(&outbound(r#""poll://uni@workers/w1""#)).await.unwrap();
    let got = hub.got.lock().unwrap();
    let body = Bytes::from_static(BODY.as_bytes());
    assert_eq!(
        *got,
        vec![
            ("default".to_owned(), None, Cast::Any, body.clone()),
            ("workers".to_owned(), Some("w1".to_owned()), Cast::Uni, body),
        ]
    );
}

#[tokio::test]
async fn an_unresolvable_recv_fails_with_the_recv_error() {
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    let err = deliverer.deliver(&outbound(r#""nowhere""#)).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Recv(RecvError::NotUrl(_))), "{err:?}");
}

#[tokio::test]
async fn a_bad_target_is_refused_at_construction() {
    let (_server, client) = nats().await;
    let targets = Targets::from([("orders".into(), "ftp://x".into())]);
    let err = Deliverer::new(Some(client), targets, config()).err().expect("refused");
    assert!(err.to_string().starts_with(r#"target "orders": "#), "{err}");
}

#[tokio::test]
async fn deliveries_are_counted_by_transport_and_outcome() {
    natsapi_server::metrics::handle();
    let (_server, _client, deliverer) = deliverer(Targets::new()).await;
    let (addr, _seen) = receiver().await;
    deliverer.deliver(&outbound(&http_recv(addr, "/ok"))).await.unwrap();
    deliverer.deliver(&outbound(&http_recv(addr, "/fail"))).await.unwrap_err();
    let text = natsapi_server::metrics::render();
    for series in [
        r#"natsapi_task_deliveries_total{transport="http",outcome="ok"}"#,
        r#"natsapi_task_deliveries_total{transport="http",outcome="error"}"#,
    ] {
        assert!(text.lines().any(|l| l.starts_with(series)), "{series} missing:\n{text}");
    }
}

/// The config crate checks target values with its own parser; both must agree.
#[test]
fn config_and_server_accept_the_same_target_urls() {
    let urls = [
        "nats://orders.tasks",
        "NATS://a",
        "nats://",
        "nats://a.*",
        "nats://a..b",
        "nats://a b",
        "http://127.0.0.1:8080/tasks",
        "https://example.com",
        "HTTPS://example.com/x?y=1",
        "http://",
        "http://[::1",
        "https://a b",
        "ftp://x",
        "orders",
        "default",
        "",
        "poll://any@workers",
        "poll://any@workers/w1",
        "poll://uni@workers/w1",
        "poll://uni@workers",
        "poll://all@workers",
        "poll://workers",
        "poll://any@",
        "poll://any@g/",
        "poll://any@g/a/b",
        "poll://any@g?x",
        "poll://any@a@b",
    ];
    for url in urls {
        let server = natsapi_server::delivery::recv::parse_url(url);
        let config = natsapi_config::parse::target(url);
        assert_eq!(server.is_ok(), config.is_ok(), "{url:?}: server {server:?}, config {config:?}");
    }
}
