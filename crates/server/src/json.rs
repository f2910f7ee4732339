//! JSON decoding whose errors name the offending field.

use serde::Deserialize;

use crate::api::ApiError;

/// Parses `text`; on failure, a 400 whose message is `<context><joiner><path>: <error>` (or
/// `<context>: <error>` when the error is not inside a field). The fast path parses once; only a
/// failure pays for tracking the path.
///
/// A string holding the NUL character (`\u0000`) is refused on every store: PostgreSQL cannot
/// keep it in text, and a request must mean the same whichever store serves it.
pub fn parse<'de, T: Deserialize<'de>>(
    text: &'de str,
    context: &str,
    joiner: &str,
) -> Result<T, ApiError> {
    if has_nul_escape(text) {
        return Err(ApiError::bad_request(format!(
            "{context}: strings must not contain the NUL character (\\u0000)"
        )));
    }
    serde_json::from_str(text).map_err(|first| {
        let de = &mut serde_json::Deserializer::from_str(text);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(_) => ApiError::bad_request(format!("{context}: {first}")),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." || path.is_empty() {
                    ApiError::bad_request(format!("{context}: {inner}"))
                } else {
                    ApiError::bad_request(format!("{context}{joiner}{path}: {inner}"))
                }
            }
        }
    })
}

/// Whether JSON `text` escapes a NUL character (`\u0000`, its backslash not itself escaped).
fn has_nul_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("u0000").map(|at| at + from) {
        let backslashes = bytes[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_nul_escape;

    #[test]
    fn only_an_escaped_nul_counts() {
        assert!(has_nul_escape(r#"{"id":"a\u0000b"}"#));
        assert!(has_nul_escape(r#"{"id":"\\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"id":"a\\u0000b"}"#), "an escaped backslash, then text");
        assert!(!has_nul_escape(r#"{"id":"u0000"}"#));
        assert!(!has_nul_escape(r#"{"id":"\u0001"}"#));
    }
}
