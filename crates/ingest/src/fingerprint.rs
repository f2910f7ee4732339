//! The fingerprint of a message sent with an `Idempotency-Key`: a SHA-256 of its entity type and
//! of its body in canonical form. It is stored with the message's row (by the gateway, and by a
//! worker that creates the row itself, from the [`HEADER`] the gateway publishes), so that the
//! same key sent again with another message is refused with 422 instead of answered with the
//! first message's id, whichever process wrote the row last, also after a restart.
//!
//! Canonical means the JSON value, not its text: object keys are taken in sorted order and
//! whitespace is ignored, so a client that encodes the same message again (another key order,
//! other spacing) still gets its replay. Numbers are compared as JSON reads them: an integer and
//! a float differ (`1` and `1.0`), but floats are compared by their value as a 64-bit float, so
//! `1e2` and `100.0` (or two long decimals that round to the same float) count as the same.

use std::io::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The NATS header carrying a message's fingerprint from the gateway to the worker.
pub const HEADER: &str = "Natsapi-Fingerprint";

/// The fingerprint of a message of `entity_type` with the JSON `body`, as lower-case hex; an error
/// names what is wrong with the body.
pub fn of(entity_type: &str, body: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    of_value(entity_type, &value)
}

/// The fingerprint of a message of `entity_type` whose body is `value`, already parsed.
pub fn of_value(entity_type: &str, value: &Value) -> Result<String, String> {
    let mut hasher = Sha256::new();
    hasher.update(entity_type.as_bytes());
    hasher.update(b"\n");
    write_canonical(&mut HashWriter(&mut hasher), value)
        .map_err(|e| format!("cannot encode the body: {e}"))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Whether a fingerprint stored with a message's row allows a request with `sent` to replay it.
/// Rows without one (messages sent without a key, or recorded by an older natsapi) cannot be
/// compared and are taken as the same message.
pub fn matches(stored: Option<&str>, sent: &str) -> bool {
    stored.is_none_or(|stored| stored == sent)
}

/// Reads the [`HEADER`] value: 64 lower-case hex digits, else nothing (a message that did not
/// come from the gateway).
pub fn from_header(value: &str) -> Option<String> {
    let valid = value.len() == 64 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| value.to_owned())
}

/// Feeds what is written into the hash.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `value` with object keys in sorted order and no whitespace. Strings are escaped as
/// serde_json escapes them (one form for each string).
fn write_canonical(out: &mut HashWriter<'_>, value: &Value) -> std::io::Result<()> {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            serde_json::to_writer(&mut *out, value).map_err(std::io::Error::other)
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(out, item)?;
            }
            out.write_all(b"]")
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.write_all(b"{")?;
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key).map_err(std::io::Error::other)?;
                out.write_all(b":")?;
                write_canonical(out, item)?;
            }
            out.write_all(b"}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_value_in_another_order_or_spacing_has_the_same_fingerprint() {
        let a = of("order", r#"{"b":[1,{"y":2,"x":"é"}],"a":null}"#).unwrap();
        let b =
            of("order", "{ \"a\" : null,\n \"b\": [1, {\"x\": \"\\u00e9\", \"y\": 2}] }").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert!(from_header(&a).is_some());
    }

    #[test]
    fn another_value_or_entity_type_has_another_fingerprint() {
        let base = of("order", r#"{"total":100}"#).unwrap();
        for (entity, body) in [
            ("order", r#"{"total":101}"#),
            ("order", r#"{"total":100.0}"#),
            ("order", r#"{"total":"100"}"#),
            ("order", r#"{"total":100,"x":null}"#),
            ("order", r#"[{"total":100}]"#),
            ("invoice", r#"{"total":100}"#),
        ] {
            assert_ne!(of(entity, body).unwrap(), base, "{entity} {body}");
        }
        // Keys and strings are framed: moving text between them changes the fingerprint.
        assert_ne!(of("e", r#"{"ab":"c"}"#).unwrap(), of("e", r#"{"a":"bc"}"#).unwrap());
    }

    #[test]
    fn bad_bodies_and_headers_are_refused() {
        assert!(of("e", "{not json").unwrap_err().contains("not JSON"));
        assert!(from_header("abc").is_none());
        assert!(from_header(&"A".repeat(64)).is_none());
        assert!(from_header(&"0".repeat(64)).is_some());
    }

    #[test]
    fn a_row_without_a_fingerprint_matches_anything() {
        assert!(matches(None, "ab"));
        assert!(matches(Some("ab"), "ab"));
        assert!(!matches(Some("ab"), "cd"));
    }
}
