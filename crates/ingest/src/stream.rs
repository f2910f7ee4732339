//! The JetStream streams ingest uses: the message stream (a work queue: a message stays until a
//! worker acknowledges it, and a full stream refuses new messages instead of dropping old ones)
//! and the dead-letter stream. Both are created at start; an existing stream whose configuration
//! differs from the settings is an error that names each difference, never silently used.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::error::IngestError;

/// The streams' names, subjects and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// The message stream (`NATS_STREAM`, default `MESSAGES`).
    pub name: String,
    /// Messages go to `<subject_prefix>.<entity_type>`.
    pub subject_prefix: String,
    /// The dead-letter stream.
    pub dead_letter_name: String,
    /// Dead letters go to `<dead_letter_prefix>.<entity_type>`.
    pub dead_letter_prefix: String,
    /// Largest size of each stream in bytes; a full stream refuses publishes (the gateway
    /// answers 503).
    pub max_bytes: i64,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a duplicate publish.
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            name: "MESSAGES".into(),
            subject_prefix: "messages.ingest".into(),
            dead_letter_name: "MESSAGES_DLQ".into(),
            dead_letter_prefix: "messages.dlq".into(),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

impl StreamSettings {
    /// The message stream's configuration.
    pub fn messages_config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            retention: stream::RetentionPolicy::WorkQueue,
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            max_bytes: self.max_bytes,
            duplicate_window: self.duplicate_window,
            ..Default::default()
        }
    }

    /// The dead-letter stream's configuration: kept until deleted by an operator.
    pub fn dead_letter_config(&self) -> stream::Config {
        stream::Config {
            name: self.dead_letter_name.clone(),
            subjects: vec![format!("{}.>", self.dead_letter_prefix)],
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            max_bytes: self.max_bytes,
            duplicate_window: self.duplicate_window,
            ..Default::default()
        }
    }
}

/// Creates both streams, or checks that the existing ones are configured as `settings` say.
pub async fn ensure_streams(
    js: &jetstream::Context,
    settings: &StreamSettings,
) -> Result<(), IngestError> {
    ensure(js, settings.messages_config()).await?;
    ensure(js, settings.dead_letter_config()).await
}

async fn ensure(js: &jetstream::Context, want: stream::Config) -> Result<(), IngestError> {
    match js.get_stream(&want.name).await {
        Ok(existing) => {
            let differences = differences(&existing.cached_info().config, &want);
            if differences.is_empty() {
                Ok(())
            } else {
                Err(IngestError::Stream(format!(
                    "stream {} exists with another configuration: {}; change the settings to \
                     match it, or edit or delete the stream (nats stream edit/rm {})",
                    want.name,
                    differences.join("; "),
                    want.name
                )))
            }
        }
        Err(e) if is_not_found(&e) => {
            js.create_stream(want.clone()).await.map_err(|e| {
                IngestError::Stream(format!("cannot create stream {}: {e}", want.name))
            })?;
            tracing::info!(stream = %want.name, subjects = ?want.subjects, "created stream");
            Ok(())
        }
        Err(e) => Err(IngestError::Stream(format!("cannot look up stream {}: {e}", want.name))),
    }
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(js)
            if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Each setting of `have` that differs from `want`, as `name: have (want want)`.
fn differences(have: &stream::Config, want: &stream::Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, have: String, want: String| {
        if have != want {
            out.push(format!("{name} is {have} (want {want})"));
        }
    };
    check("subjects", format!("{:?}", have.subjects), format!("{:?}", want.subjects));
    check("retention", format!("{:?}", have.retention), format!("{:?}", want.retention));
    check("discard", format!("{:?}", have.discard), format!("{:?}", want.discard));
    check("storage", format!("{:?}", have.storage), format!("{:?}", want.storage));
    check("max_bytes", have.max_bytes.to_string(), want.max_bytes.to_string());
    check(
        "duplicate_window",
        format!("{:?}", have.duplicate_window),
        format!("{:?}", want.duplicate_window),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streams_do_not_overlap_and_differences_are_named() {
        let settings = StreamSettings::default();
        let messages = settings.messages_config();
        let dead = settings.dead_letter_config();
        assert_eq!(messages.subjects, ["messages.ingest.>"]);
        assert_eq!(dead.subjects, ["messages.dlq.>"]);
        assert!(differences(&messages, &messages).is_empty());
        let mut other = messages.clone();
        other.subjects = vec!["messages.>".into()];
        other.retention = stream::RetentionPolicy::Limits;
        let found = differences(&other, &messages);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("subjects is [\"messages.>\"]"), "{found:?}");
    }
}
