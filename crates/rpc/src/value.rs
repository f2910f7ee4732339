//! Any JSON value as MessagePack and back: the payloads of signed query answers, which the node
//! signs like a call ([`crate::sign_msgpack`]) and a client reads after [`crate::open_msgpack`].

use serde_json::Value;

use crate::call::CallError;
use crate::msgpack::Writer;

/// `value` as MessagePack (maps with string keys, the shortest form of each number).
///
/// # Panics
/// If a string, array or object in it exceeds MessagePack's 4 GiB - 1 limit.
pub fn value_to_msgpack(value: &Value) -> Vec<u8> {
    let mut writer = Writer::with_capacity(256);
    writer.value(value);
    writer.into_vec()
}

/// The JSON value a MessagePack document holds; binary and extension values, and bytes after
/// the document, are refused with the path of the value at fault.
pub fn value_from_msgpack(bytes: &[u8]) -> Result<Value, CallError> {
    crate::call::msgpack::document(bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_round_trip_and_trailing_bytes_are_refused() {
        let value = json!({"result": {"comments": [{"id": "c1", "n": -3, "x": 1.5}], "ok": true},
            "none": null});
        let bytes = value_to_msgpack(&value);
        assert_eq!(value_from_msgpack(&bytes).unwrap(), value);
        let mut longer = bytes.clone();
        longer.push(0xc0);
        assert!(matches!(value_from_msgpack(&longer), Err(CallError::TrailingBytes { count: 1 })));
    }
}
