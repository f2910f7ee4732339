//! The message envelope: what the gateway publishes to JetStream for every message,
//! and how message ids and subjects are chosen.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One ingested message as stored in JetStream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEnvelope {
    /// The message's id: UUID v7 for a new message, derived from the `Idempotency-Key` otherwise.
    pub message_id: Uuid,
    /// The request's JSON, as text.
    pub body: String,
    /// The entity type the message was published under (`default` when none was given).
    pub entity_type: Option<String>,
    /// When the gateway received the message.
    pub received_at: DateTime<Utc>,
    /// How many times the message was retried before this copy (0 from the gateway).
    #[serde(default)]
    pub retry_count: u32,
    /// Who sent it: the `Source` header, else `http`.
    pub source: Option<String>,
}

/// The entity type used when a message names none.
pub const DEFAULT_ENTITY_TYPE: &str = "default";

/// The namespace of the UUID v5 ids derived from an `Idempotency-Key`.
const KEY_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_93b7_4d0a_8e55_0b9d_3c7a_41f2);

/// The id of a message: a fresh UUID v7, or, with an `Idempotency-Key`, always the same id for
/// the same key (the key itself when it is a UUID, else a UUID v5 of it). `line` tells the
/// messages of one batch apart. A key that is a version 8 UUID is hashed too: version 8 ids are
/// those of signed calls ([`crate::rpc::call::message_id`]), which no message may take.
pub fn message_id(key: Option<&str>, line: Option<usize>) -> Uuid {
    match (key, line) {
        (None, _) => Uuid::now_v7(),
        (Some(key), None) => Uuid::parse_str(key)
            .ok()
            .filter(|uuid| uuid.get_version_num() != 8)
            .unwrap_or_else(|| Uuid::new_v5(&KEY_NAMESPACE, key.as_bytes())),
        (Some(key), Some(line)) => {
            Uuid::new_v5(&KEY_NAMESPACE, format!("{key}\nline {line}").as_bytes())
        }
    }
}

/// Checks that `entity_type` is safe as one subject token: 1 to 64 ASCII letters, digits, `_`
/// or `-` (no `.`, `*`, `>` or spaces, which would route the message elsewhere).
pub fn check_entity_type(entity_type: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&entity_type.len())
        && entity_type.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "entity_type {entity_type:?} is not 1 to 64 letters, digits, '_' or '-' (it becomes a \
             NATS subject token)"
        ))
    }
}

/// The subject a message of `entity_type` is published to: `<prefix>.<entity_type>`.
pub fn subject(prefix: &str, entity_type: &str) -> String {
    format!("{prefix}.{entity_type}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_a_key_are_stable_and_a_uuid_key_is_the_id() {
        assert_eq!(message_id(Some("k1"), None), message_id(Some("k1"), None));
        assert_ne!(message_id(Some("k1"), None), message_id(Some("k2"), None));
        assert_ne!(message_id(Some("k1"), Some(1)), message_id(Some("k1"), Some(2)));
        let given = Uuid::now_v7();
        assert_eq!(message_id(Some(&given.to_string()), None), given);
        // A signed call's id (version 8) cannot be taken as a key.
        let call = Uuid::new_v8([7; 16]);
        assert_ne!(message_id(Some(&call.to_string()), None), call);
        assert_ne!(message_id(None, None), message_id(None, None));
        assert_eq!(message_id(None, None).get_version_num(), 7);
    }

    #[test]
    fn entity_types_must_be_one_safe_token() {
        for good in ["order", "Order_2", "a-b", &"x".repeat(64)] {
            assert!(check_entity_type(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "a*", ">", "a b", "é", &"x".repeat(65)] {
            assert!(check_entity_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_envelope_reads_as_the_seed_writes_it() {
        let text = r#"{"message_id":"550e8400-e29b-41d4-a716-446655440000","body":"{}",
            "entity_type":null,"received_at":"2025-11-09T21:27:00Z","source":null}"#;
        let envelope: MessageEnvelope = serde_json::from_str(text).unwrap();
        assert_eq!(envelope.retry_count, 0);
        assert_eq!(envelope.body, "{}");
    }
}
