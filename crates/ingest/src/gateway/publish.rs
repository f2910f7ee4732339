//! Publishing one envelope and waiting for JetStream to acknowledge it.

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use axum::http::StatusCode;

use super::store::Publication;
use super::{GatewayError, Shared};

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

    /// Publishes `publication` and waits for the acknowledgement. A failure is a 503 (or 413
    /// when the message is too large).
    pub(super) async fn publish(&self, publication: &Publication) -> Result<Stored, GatewayError> {
        if !self.connected() {
            return Err(GatewayError::unavailable(
                "NATS is not connected; the message was not stored",
            ));
        }
        let message = PublishMessage::build()
            .payload(publication.payload.clone())
            .headers(publication.headers.clone());
        let pending =
            self.js.send_publish(publication.subject.clone(), message).await.map_err(refused)?;
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
