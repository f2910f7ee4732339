//! The ingest bench's HTTP load generator: keep-alive HTTP/1.1 connections made with hyper's
//! connection API, one request at a time on each, handed out from an idle list. The load
//! generator shares the machine's cores with the gateway and nats-server, so it should cost as
//! little as a dedicated tool (wrk, oha) would: a full client's pool, redirect and header
//! handling cost as much CPU per request as the gateway's whole HTTP round trip.

use std::cell::RefCell;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Keep-alive connections to one `host:port`, for a single-threaded runtime.
pub struct HttpPool {
    addr: String,
    idle: RefCell<Vec<SendRequest<Full<Bytes>>>>,
}

impl HttpPool {
    /// A pool for `addr` (`host:port`) with no connection yet; they are opened on demand and
    /// kept for reuse.
    pub fn new(addr: &str) -> Self {
        HttpPool { addr: addr.to_owned(), idle: RefCell::new(Vec::new()) }
    }

    /// Sends one request with a JSON body and answers the status and the whole body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.send_typed(method, path, body, "application/json", None).await
    }

    /// Sends one request with a body of `content_type` (and the header `extra`, when given)
    /// and answers the status and the whole body.
    pub async fn send_typed(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: &str,
        extra: Option<(&str, &str)>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        // A kept-alive connection the gateway has closed meanwhile (it closes those idle for
        // longer than its header read timeout) is dropped, not used.
        let mut sender = loop {
            let idle = self.idle.borrow_mut().pop();
            match idle {
                Some(sender) if sender.is_closed() => {}
                Some(sender) => break sender,
                None => break self.connect().await?,
            }
        };
        if sender.ready().await.is_err() {
            sender = self.connect().await?;
            sender.ready().await?;
        }
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.as_str())
            .header(hyper::header::CONTENT_TYPE, content_type);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(body))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !sender.is_closed() {
            self.idle.borrow_mut().push(sender);
        }
        Ok((status, body))
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "bench HTTP connection ended");
            }
        });
        if sender.is_closed() {
            bail!("the connection to {} closed at once", self.addr);
        }
        Ok(sender)
    }
}
