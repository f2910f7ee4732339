//! One batch of one lane (messages or signed calls): parse, mark `processing` (see [`super::apply`]), apply in one transaction, then
//! ack, retry or dead-letter each message according to its outcome.

use std::sync::Arc;

use async_nats::jetstream::{self, AckKind};
use uuid::Uuid;

use super::apply::{self, Outcome, Parsed};
use super::{Lane, Shared};
use crate::db::messages::Delivered;
use crate::envelope::MessageEnvelope;
use crate::rpc::{FORMAT_HEADER, RECEIVED_HEADER, SIGNATURE_HEADER, Verified};
use natsapi_rpc::Format;

/// A delivered message and what the worker made of it.
pub(super) struct Incoming {
    /// The stream it came from.
    pub lane: Lane,
    /// The JetStream message (for ack, nak and its payload).
    pub message: jetstream::Message,
    /// Delivery count and stream sequence.
    pub attempts: i64,
    /// The stream sequence.
    pub stream_seq: u64,
    /// The envelope and body, or why they could not be read.
    pub parsed: Result<Arc<Parsed>, Unreadable>,
}

/// A message that cannot be applied as sent.
pub(super) struct Unreadable {
    /// Its id, when the envelope could be read.
    pub delivered: Option<Delivered>,
    /// What is wrong.
    pub error: String,
}

fn parse(message: jetstream::Message, needs_body: bool) -> Incoming {
    let (attempts, stream_seq) =
        message.info().map(|i| (i.delivered, i.stream_sequence)).unwrap_or((1, 0));
    let parsed = match serde_json::from_slice::<MessageEnvelope>(&message.payload) {
        Err(e) => {
            Err(Unreadable { delivered: None, error: format!("not a message envelope: {e}") })
        }
        Ok(envelope) if let Err(error) = check_envelope(&envelope) => {
            Err(Unreadable { delivered: None, error })
        }
        Ok(envelope) => {
            let delivered = Delivered {
                message_id: envelope.message_id,
                entity_type: envelope
                    .entity_type
                    .clone()
                    .unwrap_or_else(|| crate::envelope::DEFAULT_ENTITY_TYPE.to_owned()),
                source: envelope.source.clone(),
                received_at: envelope.received_at.timestamp_millis(),
                attempts,
                stream_seq,
                fingerprint: message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(crate::fingerprint::HEADER))
                    .and_then(|v| crate::fingerprint::from_header(v.as_str())),
            };
            // The body is built in memory only for handlers; otherwise it is only checked.
            let body = if needs_body {
                serde_json::from_str::<serde_json::Value>(&envelope.body).map(Some)
            } else {
                serde_json::from_str::<serde::de::IgnoredAny>(&envelope.body).map(|_| None)
            };
            match body {
                Ok(body) => {
                    Ok(Arc::new(Parsed { delivered, body, text: Some(envelope.body), call: None }))
                }
                Err(e) => Err(Unreadable {
                    delivered: Some(delivered),
                    error: format!("the body is not JSON: {e}"),
                }),
            }
        }
    };
    Incoming { lane: Lane::Messages, message, attempts, stream_seq, parsed }
}

/// Reads a signed call as the gateway did: the signature verified again (the worker does not
/// trust the gateway) and the call decoded. A call that cannot be read is dead-lettered at once;
/// its params are checked against its method when it is applied (a call that does not fit is
/// dead-lettered then).
fn parse_call(message: jetstream::Message) -> Incoming {
    let (attempts, stream_seq, published) = message
        .info()
        .map(|i| (i.delivered, i.stream_sequence, i.published.unix_timestamp_nanos() / 1_000_000))
        .unwrap_or((1, 0, 0));
    let parsed = read_call(&message, attempts, stream_seq, published)
        .map(Arc::new)
        .map_err(|error| Unreadable { delivered: None, error });
    Incoming { lane: Lane::Calls, message, attempts, stream_seq, parsed }
}

/// The call `message` carries, with its row data; the error says why it cannot be read.
fn read_call(
    message: &jetstream::Message,
    attempts: i64,
    stream_seq: u64,
    published_ms: i128,
) -> Result<Parsed, String> {
    let header = |name: &str| message.headers.as_ref()?.get(name).map(|v| v.as_str());
    let format = header(FORMAT_HEADER)
        .and_then(|f| Format::parse(f).ok())
        .ok_or_else(|| format!("no {FORMAT_HEADER} header naming msgpack or json"))?;
    let verified = Verified::open(format, message.payload.clone(), header(SIGNATURE_HEADER))
        .map_err(|e| e.to_string())?;
    let received_at = header(RECEIVED_HEADER)
        .and_then(|t| t.parse().ok())
        .unwrap_or(i64::try_from(published_ms).unwrap_or_default());
    // The gateway sends the fingerprint it recorded; a call published some other way gets its own.
    let fingerprint = header(crate::fingerprint::HEADER)
        .and_then(crate::fingerprint::from_header)
        .unwrap_or_else(|| verified.fingerprint());
    let delivered = Delivered {
        message_id: verified.message_id(),
        entity_type: verified.call.method.clone(),
        source: Some(verified.wallet.to_string()),
        received_at,
        attempts,
        stream_seq,
        fingerprint: Some(fingerprint),
    };
    Ok(Parsed { delivered, body: None, text: None, call: Some(Arc::new(verified)) })
}

/// What a gateway would have refused in a message published to the stream some other way: an
/// entity type that is no subject token, or text no store can keep (the NUL character). Such a
/// message is dead-lettered at once, never retried with its whole batch.
fn check_envelope(envelope: &MessageEnvelope) -> Result<(), String> {
    if let Some(entity_type) = &envelope.entity_type {
        crate::envelope::check_entity_type(entity_type)?;
    }
    if envelope.source.as_deref().is_some_and(|source| source.contains('\0')) {
        return Err("the source contains the NUL character".to_owned());
    }
    Ok(())
}

/// Processes one batch of messages delivered on `lane`.
pub(super) async fn process(shared: &Shared, lane: Lane, messages: Vec<jetstream::Message>) {
    if messages.is_empty() {
        return;
    }
    let needs_body = !shared.handlers.is_empty();
    let incoming: Vec<Incoming> = messages
        .into_iter()
        .map(|m| match lane {
            Lane::Messages => parse(m, needs_body),
            Lane::Calls => parse_call(m),
        })
        .collect();
    let readable: Vec<Arc<Parsed>> =
        incoming.iter().filter_map(|i| i.parsed.as_ref().ok().map(Arc::clone)).collect();
    let outcomes = match apply::run(shared, lane, readable).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            // Nothing was committed: every message comes back after the back-off.
            tracing::warn!(error = %e, count = incoming.len(), "the batch was not applied");
            for item in &incoming {
                let delay = shared.settings.retry_delay(item.attempts);
                if let Err(e) = item.message.ack_with(AckKind::Nak(Some(delay))).await {
                    tracing::warn!(error = %e, "nak failed; the message comes back after ack_wait");
                }
            }
            return;
        }
    };
    let mut outcomes = outcomes.into_iter();
    for item in incoming {
        let outcome = match &item.parsed {
            Ok(_) => outcomes.next().unwrap_or(Outcome::Retry("no outcome".into())),
            Err(bad) => Outcome::DeadLetter(bad.error.clone()),
        };
        finish(shared, item, outcome).await;
    }
}

async fn finish(shared: &Shared, item: Incoming, outcome: Outcome) {
    let result = match outcome {
        Outcome::Applied => item.message.ack().await,
        Outcome::Retry(error) if item.attempts < shared.settings.max_attempts => {
            let delay = shared.settings.retry_delay(item.attempts);
            tracing::info!(attempts = item.attempts, ?delay, %error, "message will be retried");
            item.message.ack_with(AckKind::Nak(Some(delay))).await
        }
        Outcome::Retry(error) | Outcome::DeadLetter(error) => {
            match super::dead_letter::send(shared, &item, &error).await {
                Ok(()) => item.message.ack().await,
                Err(e) => {
                    let delay = shared.settings.retry_delay(item.attempts);
                    tracing::warn!(error = %e, ?delay, "dead-lettering failed; will try again");
                    item.message.ack_with(AckKind::Nak(Some(delay))).await
                }
            }
        }
    };
    if let Err(e) = result {
        let id = item.parsed.as_ref().ok().map(|p| p.delivered.message_id).unwrap_or(Uuid::nil());
        tracing::warn!(error = %e, message_id = %id, "ack failed; the message will be redelivered");
    }
}
