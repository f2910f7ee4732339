//! Publishing one envelope and waiting for JetStream to acknowledge it.

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use axum::http::StatusCode;

use super::{GatewayError, Shared};
use crate::envelope::{MessageEnvelope, subject};

/// What JetStream said about a stored message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    /// The stream sequence.
    pub sequence: u64,
    /// Whether JetStream already had a message with this id (nothing was stored twice).
    pub duplicate: bool,
    /// Whether the answer comes from the worker's record of the message, which was not
    /// published again.
    pub recorded: bool,
}

impl Shared {
    /// Whether the NATS connection is up; while it is down a publish would only be buffered.
    pub(super) fn connected(&self) -> bool {
        natsapi_client::stopping::is_connected(&self.nats)
    }

    /// Publishes `envelope` to `<prefix>.<entity_type>` with `Nats-Msg-Id` set to its id (and its
    /// `fingerprint`, when it has one, in [`crate::fingerprint::HEADER`] for the worker), and
    /// waits for the acknowledgement. A failure is a 503 (or 413 when the message is too large).
    pub(super) async fn publish(
        &self,
        envelope: &MessageEnvelope,
        fingerprint: Option<&str>,
    ) -> Result<Stored, GatewayError> {
        if !self.connected() {
            return Err(GatewayError::unavailable(
                "NATS is not connected; the message was not stored",
            ));
        }
        let entity =
            envelope.entity_type.as_deref().unwrap_or(crate::envelope::DEFAULT_ENTITY_TYPE);
        let payload = serde_json::to_vec(envelope)
            .map_err(|e| GatewayError::unavailable(format!("cannot encode the envelope: {e}")))?;
        let mut message = PublishMessage::build()
            .payload(payload.into())
            .message_id(envelope.message_id.to_string());
        if let Some(fingerprint) = fingerprint {
            message = message.header(crate::fingerprint::HEADER, fingerprint);
        }
        let pending = self
            .js
            .send_publish(subject(&self.streams.subject_prefix, entity), message)
            .await
            .map_err(refused)?;
        let ack = pending.await.map_err(refused)?;
        Ok(Stored { sequence: ack.sequence, duplicate: ack.duplicate, recorded: false })
    }
}

/// The response for a publish JetStream did not acknowledge.
fn refused(e: async_nats::jetstream::context::PublishError) -> GatewayError {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => GatewayError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the message is larger than NATS accepts: {e}"),
        },
        _ => GatewayError::unavailable(format!("JetStream did not store the message: {e}")),
    }
}
