//! The HTTP API's optional credentials and its CORS: with a bearer token or a user and password
//! configured, every route but /health, /metrics and CORS preflights needs them (401, 40100),
//! on the API port and on the poll listener alike.

mod common;

use common::nats_config;
use natsapi_server::http::auth::HttpAuth;
use natsapi_server::{RunningServer, ServerConfig, Time};
use natsapi_store::StoreConfig;
use natsapi_testkit::NatsServer;

async fn server(nats: &NatsServer, auth: HttpAuth) -> RunningServer {
    let config = ServerConfig {
        store: StoreConfig::memory(),
        nats: Some(nats_config(&nats.url(), "resonate.server")),
        http: Some("127.0.0.1:0".into()),
        poll: Some("127.0.0.1:0".into()),
        targets: Default::default(),
        http_auth: Some(auth),
    };
    RunningServer::start(config, Time::system()).await.unwrap()
}

fn url(server: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", server.http_addr().unwrap())
}

async fn create(server: &RunningServer, authorization: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url(server, "/promises"))
        .header("content-type", "application/json")
        .body(r#"{"id":"p","timeout":60000}"#);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_bearer_token_is_required_except_for_health_metrics_and_preflights() {
    let nats = NatsServer::start().unwrap();
    let s = server(&nats, HttpAuth::Bearer("s3cret".into())).await;

    let missing = create(&s, None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer realm=\"natsapi\"");
    let body: serde_json::Value = serde_json::from_slice(&missing.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], 40100);
    assert_eq!(create(&s, Some("Bearer wrong")).await.status(), 401);
    assert_eq!(create(&s, Some("Bearer s3cret")).await.status(), 201);

    let client = reqwest::Client::new();
    assert_eq!(client.get(url(&s, "/health")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(url(&s, "/metrics")).send().await.unwrap().status(), 200);
    let preflight = client
        .request(reqwest::Method::OPTIONS, url(&s, "/promises"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "idempotency-key, strict, content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_owned();
    for header in ["idempotency-key", "strict", "task-id", "task-counter"] {
        assert!(allowed.contains(header), "{header} not in {allowed}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn basic_credentials_are_checked() {
    let nats = NatsServer::start().unwrap();
    let s = server(&nats, HttpAuth::Basic { username: "ops".into(), password: "pw".into() }).await;
    // base64("ops:pw") = b3BzOnB3
    assert_eq!(create(&s, Some("Basic b3BzOnB3")).await.status(), 201);
    assert_eq!(create(&s, Some("Basic b3BzOnh4")).await.status(), 401);
    let cross_origin = reqwest::Client::new()
        .get(url(&s, "/promises/p"))
        .header("origin", "http://app.example")
        .header("authorization", "Basic b3BzOnB3")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_origin.status(), 200);
    assert_eq!(cross_origin.headers()["access-control-allow-origin"], "*");
    s.shutdown().await;
}

#[tokio::test]
async fn the_poll_listener_asks_for_the_same_credentials() {
    let nats = NatsServer::start().unwrap();
    let s = server(&nats, HttpAuth::Bearer("s3cret".into())).await;
    let client = reqwest::Client::new();
    let on_poll_port = format!("http://{}/workers/w1", s.poll_addr().unwrap());
    let on_api_port = url(&s, "/poll/workers/w1");
    for stream in [&on_poll_port, &on_api_port] {
        let refused = client.get(stream).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{stream}");
        assert_eq!(refused.headers()["www-authenticate"], "Bearer realm=\"natsapi\"");
        let wrong = client.get(stream).header("authorization", "Bearer s3cre").send().await;
        assert_eq!(wrong.unwrap().status(), 401, "{stream}");
        let allowed = client.get(stream).header("authorization", "Bearer s3cret").send().await;
        let allowed = allowed.unwrap();
        assert_eq!(allowed.status(), 200, "{stream}");
        assert_eq!(allowed.headers()["content-type"], "text/event-stream");
    }
    s.shutdown().await;
}
