//! The RPC call object `{id, method, params, ts}`, decoded from and encoded to JSON or
//! MessagePack under the same rules.

mod error;
mod fields;
mod json;
pub(crate) mod msgpack;

use serde_json::{Map, Value};

use crate::format::Format;
use crate::msgpack::Writer;

pub use error::CallError;
pub use fields::{MAX_ID_CHARS, MAX_METHOD_CHARS};
pub use msgpack::MAX_DEPTH;

/// One RPC call.
///
/// Decoded by [`Call::decode`], which enforces: an object (a MessagePack map with string keys);
/// `id` a string of 1 to 256 characters; `method` 1 to 128 ASCII letters, digits, `_`, `.`,
/// `-`; `params` any JSON value, absent = null; `ts` an integer (epoch milliseconds), absent or
/// null = `None`; `jsonrpc`, if present, "2.0" (and otherwise ignored); no other key, and no
/// key twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Call {
    /// The caller's id of the call, unique per wallet.
    pub id: String,
    /// The procedure to call.
    pub method: String,
    /// Its arguments (null when absent).
    pub params: Value,
    /// When the caller made the call, in milliseconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

impl Call {
    /// A call without `ts`.
    pub fn new(id: impl Into<String>, method: impl Into<String>, params: Value) -> Self {
        Self { id: id.into(), method: method.into(), params, ts: None }
    }

    /// Decodes and checks a call's payload in `format`.
    ///
    /// In MessagePack, values must be ones JSON can carry: binary data, extension values
    /// (timestamps included) and NaN or infinite floats are refused with their path, non-string
    /// map keys too. Nested maps keep the last of repeated keys, as JSON parsers do.
    pub fn decode(format: Format, payload: &[u8]) -> Result<Self, CallError> {
        let entries = match format {
            Format::Json => json::entries(payload)?,
            Format::MsgPack => msgpack::entries(payload)?,
        };
        fields::assemble(entries)
    }

    /// The call as a MessagePack map with string keys: id, method, params, and ts unless `None`.
    ///
    /// # Panics
    /// If a string, array or object in it exceeds MessagePack's 4 GiB - 1 limit.
    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut writer = Writer::with_capacity(64 + self.id.len() + self.method.len());
        writer.map_len(if self.ts.is_some() { 4 } else { 3 });
        writer.str("id");
        writer.str(&self.id);
        writer.str("method");
        writer.str(&self.method);
        writer.str("params");
        writer.value(&self.params);
        if let Some(ts) = self.ts {
            writer.str("ts");
            writer.value(&Value::from(ts));
        }
        writer.into_vec()
    }

    /// The call as a compact JSON object: id, method, params, and ts unless `None`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut object = Map::new();
        object.insert("id".to_owned(), Value::String(self.id.clone()));
        object.insert("method".to_owned(), Value::String(self.method.clone()));
        object.insert("params".to_owned(), self.params.clone());
        if let Some(ts) = self.ts {
            object.insert("ts".to_owned(), Value::from(ts));
        }
        Value::Object(object).to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests;
