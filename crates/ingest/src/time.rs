//! Timestamps as the API shows them: RFC 3339 in UTC with milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// `ms` (Unix epoch milliseconds) as a UTC date-time; out-of-range values clamp to the epoch.
pub fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `ms` as RFC 3339 text, e.g. `2025-11-09T21:27:00.123Z`.
pub fn rfc3339(ms: i64) -> String {
    datetime(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serializes epoch milliseconds as an RFC 3339 timestamp (for `#[serde(serialize_with)]`).
pub fn serialize_rfc3339<S: serde::Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*ms))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_milliseconds_in_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_762_723_620_123), "2025-11-09T21:27:00.123Z");
    }
}
