//! An HTTP client for the tests of the Resonate routes: one harness's API port, answers with
//! status, JSON body and the headers of interest, and the check of the spec's error body.

use serde_json::{Value, json};

use super::Harness;

/// A small HTTP client for one harness.
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

/// One HTTP answer: status, body (JSON, or `Null` when empty) and the headers of interest.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub version: Option<String>,
    pub request_id: Option<String>,
}

impl Http {
    pub fn new(h: &Harness) -> Http {
        let addr = h.server().http_addr().expect("HTTP is enabled");
        Http { base: format!("http://{addr}"), client: reqwest::Client::new() }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.expect("HTTP answers");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let version = header("resonate-version");
        let request_id = header("request-id");
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        Answer { status, body, version, request_id }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, &[], None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, &[], None).await
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        self.send(reqwest::Method::POST, path, headers, Some(body)).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Answer {
        self.post(path, &[], &body.to_string()).await
    }

    pub async fn patch(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        self.send(reqwest::Method::PATCH, path, headers, Some(body)).await
    }
}

/// Asserts the spec's error body with this five-digit code.
pub fn assert_error(answer: &Answer, code: u32) {
    assert_eq!(u32::from(answer.status), code / 100, "{answer:?}");
    let error = &answer.body["error"];
    assert_eq!(error["code"], json!(code), "{answer:?}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer:?}");
    assert!(error["details"][0]["@type"].is_string(), "{answer:?}");
    assert_eq!(answer.body.as_object().map(|o| o.len()), Some(1), "only the error: {answer:?}");
}

/// One step of a NATS-versus-HTTP comparison: an operation over NATS and the same request over
/// HTTP.
pub struct Step {
    operation: &'static str,
    payload: Value,
    method: reqwest::Method,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<Value>,
}

/// A [`Step`].
pub fn step(
    operation: &'static str,
    payload: Value,
    method: reqwest::Method,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<Value>,
) -> Step {
    Step { operation, payload, method, path, headers, body }
}

/// `(status, body)` of step number `i`, over NATS or over HTTP; an error body is reduced to its
/// status (over HTTP its five-digit code must agree with the HTTP status).
pub async fn run_step(
    h: &Harness,
    http: &Http,
    i: usize,
    step: Step,
    over_http: bool,
) -> (u16, Value) {
    if over_http {
        let body = step.body.as_ref().map(Value::to_string);
        let answer = http.send(step.method, step.path, step.headers, body.as_deref()).await;
        match answer.body.get("error") {
            Some(error) => {
                // The five-digit code over HTTP; NATS carries only the HTTP-style status.
                let code = error["code"].as_u64().unwrap_or(0);
                assert_eq!(code / 100, u64::from(answer.status), "step {i}: {answer:?}");
                (answer.status, Value::Null)
            }
            None => (answer.status, answer.body),
        }
    } else {
        let reply = h.call(step.operation, step.payload).await;
        match (reply.success, reply.error) {
            (true, _) => (reply.status.unwrap_or(0), reply.response.unwrap_or(Value::Null)),
            (false, Some(error)) => (error.code, Value::Null),
            (false, None) => panic!("a failed reply has an error"),
        }
    }
}
