//! Opaque search cursors. A cursor carries the whole next query (pattern, states, tags, limit) and
//! the sort id to continue below, as URL-safe base64 of JSON, so pages need no server-side state.
//!
//! A request that sends a cursor may send the other fields too, as long as they say what the
//! cursor says: a field that contradicts it is a 400 naming the field and both values (silently
//! following either would page through a search the client did not ask for).

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

/// The conflict of one request field with its cursor, if the request sent the field and it says
/// something else: `field given (the cursor's: value)`, with both values as `show` writes them.
pub fn conflict<T: PartialEq>(
    field: &str,
    given: Option<&T>,
    from_cursor: &T,
    show: impl Fn(&T) -> String,
) -> Option<String> {
    let given = given?;
    (given != from_cursor)
        .then(|| format!("{field} {} (the cursor's: {})", show(given), show(from_cursor)))
}

/// What a search request sends of the fields every search has, and what its cursor says of them.
pub struct Common<'a> {
    /// The request's id pattern; an empty one counts as absent.
    pub id: Option<&'a str>,
    /// The request's tags.
    pub tags: Option<&'a std::collections::BTreeMap<String, String>>,
    /// The request's page size.
    pub limit: Option<i64>,
    /// The cursor's id pattern.
    pub cursor_id: &'a str,
    /// The cursor's tags.
    pub cursor_tags: &'a std::collections::BTreeMap<String, String>,
    /// The cursor's page size.
    pub cursor_limit: i64,
}

impl Common<'_> {
    /// The conflicts of the id, the tags and the limit (see [`conflict`]).
    pub fn conflicts(&self) -> [Option<String>; 3] {
        let id = self.id.filter(|id| !id.is_empty());
        [
            conflict("id", id.as_ref(), &self.cursor_id, |id| crate::error::quoted(id)),
            conflict("tags", self.tags, self.cursor_tags, show_tags),
            conflict("limit", self.limit.as_ref(), &self.cursor_limit, i64::to_string),
        ]
    }
}

/// Tags as a request writes them, for a message (cut like any quoted input).
fn show_tags(tags: &std::collections::BTreeMap<String, String>) -> String {
    crate::error::quoted(&serde_json::to_string(tags).unwrap_or_default())
}

/// A 400 naming every conflict between a request and its cursor, if there is any.
pub fn agree(conflicts: impl IntoIterator<Item = Option<String>>) -> Result<(), DomainError> {
    let conflicts: Vec<String> = conflicts.into_iter().flatten().collect();
    if conflicts.is_empty() {
        return Ok(());
    }
    Err(DomainError::bad_request(format!(
        "cursor: the request contradicts the search the cursor continues: {}; send the cursor \
         alone, or with the fields of the search it came from",
        conflicts.join("; ")
    )))
}
