//! The answer to a connection over the cap: a `503` with `Retry-After`, written at once without
//! reading the request, then the connection is closed. What the client had already sent is read
//! and thrown away for a moment first, because closing a socket with unread input makes the
//! kernel reset the connection, and the client would see the reset instead of the `503`.

use std::time::Duration;

use axum::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::error::{HttpError, RETRY_AFTER_SECONDS};

/// How long a refusal may take in all: writing the answer and reading what the client sent.
/// Short, because a refusal holds a file descriptor, and refusals happen when those are scarce.
const REFUSAL_TIME: Duration = Duration::from_millis(100);

/// The whole HTTP/1.1 response a refused connection gets.
pub(super) fn response(max_connections: usize) -> Vec<u8> {
    let body = HttpError::from_status(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "this listener is at its limit of {max_connections} connections; retry in \
             {RETRY_AFTER_SECONDS} s"
        ),
    )
    .to_json();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {RETRY_AFTER_SECONDS}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers `stream` with `response` and closes it, within a bounded time.
pub(super) async fn refuse(mut stream: TcpStream, response: &[u8]) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(response).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
