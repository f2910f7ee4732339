//! JSON decoding whose errors name the offending field.

use serde::Deserialize;

use crate::api::ApiError;

/// Parses `text`; on failure, a 400 whose message is `<context><joiner><path>: <error>` (or
/// `<context>: <error>` when the error is not inside a field). The fast path parses once; only a
/// failure pays for tracking the path.
pub fn parse<'de, T: Deserialize<'de>>(
    text: &'de str,
    context: &str,
    joiner: &str,
) -> Result<T, ApiError> {
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
