//! Why a delivery failed.

use std::time::Duration;

use super::recv::RecvError;

/// Why a task message was not delivered. Every failure leaves the task to be sent again later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The task's recv does not name a destination (any more: the targets may have changed).
    #[error(transparent)]
    Recv(#[from] RecvError),
    /// The HTTP client could not be built (at start-up).
    #[error("cannot build the HTTP delivery client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The NATS client refused the publish (bad subject, message larger than the server allows,
    /// connection closed).
    #[error("cannot publish on {subject}: {source}")]
    Publish {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: async_nats::PublishError,
    },
    /// The NATS connection failed while flushing.
    #[error("cannot flush the publish on {subject}: {source}")]
    Flush {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: async_nats::client::FlushError,
    },
    /// The NATS server did not confirm the flush in time (for example while disconnected).
    #[error("publish on {subject} not flushed within {timeout:?}")]
    FlushTimeout {
        /// The subject.
        subject: String,
        /// How long the flush was given.
        timeout: Duration,
    },
    /// The HTTP request could not be made, or no answer came in time.
    #[error("POST {url} failed: {source}")]
    Http {
        /// The URL.
        url: String,
        /// Why (`is_timeout()` tells a timeout).
        #[source]
        source: reqwest::Error,
    },
    /// The receiver answered with a status other than 200.
    #[error("POST {url} answered {status}, not 200")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status it answered.
        status: u16,
    },
    /// The server runs without NATS, so `nats://` destinations cannot be reached.
    #[error("cannot deliver to nats://{subject}: this server runs without NATS")]
    NatsDisabled {
        /// The destination's subject.
        subject: String,
    },
    /// No poll hub is registered, so poll destinations cannot be served yet.
    #[error("cannot deliver to poll://{cast}@{group}: no poll hub is registered")]
    NoPollHub {
        /// The destination's group.
        group: String,
        /// The destination's cast (`any` or `uni`).
        cast: &'static str,
    },
    /// The poll hub could not hand the message to a connection.
    #[error("cannot deliver to poll group {group}: {message}")]
    Poll {
        /// The destination's group.
        group: String,
        /// Why, as the hub explains it (e.g. no connection in the group).
        message: String,
    },
}

impl DeliveryError {
    /// Whether the delivery failed because it took too long.
    pub fn is_timeout(&self) -> bool {
        match self {
            DeliveryError::FlushTimeout { .. } => true,
            DeliveryError::Http { source, .. } => source.is_timeout(),
            _ => false,
        }
    }
}
