//! The processing status of a message, as the `messages` table and `GET /ingest/status` show it.

use serde::Serialize;

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Stored in JetStream; no worker has started on it.
    Accepted,
    /// A worker is applying it (`attempts` counts the deliveries).
    Processing,
    /// Applied to the database; final.
    Processed,
    /// The last attempt failed; it will be retried (see `error`).
    Failed,
    /// Every attempt failed, or it can never succeed: it is in the dead-letter stream; final.
    DeadLettered,
}

impl MessageStatus {
    /// The name stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Processing => "processing",
            MessageStatus::Processed => "processed",
            MessageStatus::Failed => "failed",
            MessageStatus::DeadLettered => "dead_lettered",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Accepted, Self::Processing, Self::Processed, Self::Failed, Self::DeadLettered]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}
