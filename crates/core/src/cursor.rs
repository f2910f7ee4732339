//! Opaque search cursors. A cursor carries the whole next query (pattern, states, tags, limit) and
//! the sort id to continue below, as URL-safe base64 of JSON, so pages need no server-side state.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::DomainError;

/// Encodes the next query as an opaque cursor.
pub fn encode<T: Serialize>(next: &T) -> String {
    // Serializing plain data structs to JSON cannot fail.
    let json = serde_json::to_vec(next).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode`]; anything else is a 400 that says the cursor is invalid.
pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, DomainError> {
    let invalid = |why: String| DomainError::bad_request(format!("invalid cursor: {why}"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|e| invalid(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))
}
