//! Dead-lettering: the original payload and headers go to `<dead_letter_prefix>.<entity_type>`
//! (`.<method>` for a signed call) with headers saying why; JetStream must acknowledge it (deduplicated by message id) before the message's
//! status becomes `dead_lettered` and the original is acknowledged.

use super::Shared;
use super::batch::Incoming;
use super::ops::DeadLettered;
use crate::envelope::subject;
use crate::error::IngestError;

/// Entity token for messages whose envelope could not be read.
const UNREADABLE: &str = "unreadable";

/// Publishes `item` to the dead-letter stream and records it as dead-lettered.
pub(super) async fn send(shared: &Shared, item: &Incoming, error: &str) -> Result<(), IngestError> {
    let delivered = match &item.parsed {
        Ok(parsed) => Some(&parsed.delivered),
        Err(bad) => bad.delivered.as_ref(),
    };
    let entity = delivered.map_or(UNREADABLE, |d| d.entity_type.as_str());
    let id =
        delivered.map_or_else(|| format!("seq-{}", item.stream_seq), |d| d.message_id.to_string());
    // The original's headers go along (a JSON call's signature, how it was sent, when it was
    // received), so that a dead letter can be checked and sent again.
    let mut headers = item.message.headers.clone().unwrap_or_default();
    headers.insert("Nats-Msg-Id", format!("dlq-{id}").as_str());
    headers.insert("Natsapi-Error", error.replace(['\r', '\n'], " ").as_str());
    headers.insert("Natsapi-Attempts", item.attempts.to_string().as_str());
    headers.insert("Natsapi-Stream-Sequence", item.stream_seq.to_string().as_str());
    headers.insert("Natsapi-Subject", item.message.subject.as_str());
    let target = subject(&shared.streams(item.lane).dead_letter_prefix, entity);
    let ack = shared
        .js
        .publish_with_headers(target, headers, item.message.payload.clone())
        .await
        .map_err(|e| IngestError::Stream(format!("dead-letter publish: {e}")))?;
    ack.await.map_err(|e| IngestError::Stream(format!("dead-letter publish not stored: {e}")))?;
    tracing::warn!(message_id = %id, attempts = item.attempts, %error, "message dead-lettered");
    if let Some(row) = delivered.cloned() {
        crate::db::run(&shared.store, DeadLettered { row, error: error.to_owned() }).await?;
    }
    Ok(())
}
