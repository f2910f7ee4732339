//! Delivery over NATS: publish the message on the subject, then flush.
//!
//! The publish carries `Nats-Msg-Id: <task id>:<counter>`, so a JetStream stream that captures the
//! subject stores one copy of a message sent twice (within its duplicate window); a new counter
//! is a new delivery and gets a new id.
//!
//! Success means the message was flushed: async-nats `Client::flush` returns once the client's
//! write buffer is written to the connection's socket (it is not a PING/PONG round trip). That is
//! not proof that the server has it, still less that a worker got it: with no subscriber the
//! server drops it, and a server that dies right after the write loses it. async-nats accepts
//! publishes while disconnected and buffers them, but it does not flush until it has reconnected,
//! so the flush, bounded by a timeout, tells a sent message from a buffered one. In every case a
//! task nobody claims goes back to INIT when its claim timeout passes and is delivered again.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::header::NATS_MESSAGE_ID;
use bytes::Bytes;

use super::DeliveryError;

/// The `Nats-Msg-Id` of a delivery: `<task id>:<counter>`.
pub fn message_id(task_id: &str, counter: i64) -> String {
    format!("{task_id}:{counter}")
}

/// Publishes `body` on `subject` with the message id header (and `head`) and waits up to `flush_timeout` for
/// the server to have it.
pub(super) async fn send(
    client: &async_nats::Client,
    subject: &str,
    message_id: &str,
    head: &std::collections::BTreeMap<String, String>,
    body: Bytes,
    flush_timeout: Duration,
) -> Result<(), DeliveryError> {
    let mut headers = HeaderMap::new();
    for (name, value) in head {
        headers.insert(name.as_str(), value.as_str());
    }
    headers.insert(NATS_MESSAGE_ID, message_id);
    client
        .publish_with_headers(subject.to_owned(), headers, body)
        .await
        .map_err(|source| DeliveryError::Publish { subject: subject.to_owned(), source })?;
    match tokio::time::timeout(flush_timeout, client.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(DeliveryError::Flush { subject: subject.to_owned(), source }),
        Err(_) => {
            Err(DeliveryError::FlushTimeout { subject: subject.to_owned(), timeout: flush_timeout })
        }
    }
}
