//! A promise's `param` or `value`: headers plus opaque data, base64 in JSON.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Standard base64 that accepts input with or without padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Headers and data. Empty parts are left out of the JSON, as the Resonate server does, so an empty
/// value is `{}`; `data` is base64 text when present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Value {
    /// String headers.
    pub headers: BTreeMap<String, String>,
    /// Opaque bytes; empty means absent.
    pub data: Vec<u8>,
}

impl Value {
    /// Whether both headers and data are empty.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.data.is_empty()
    }

    /// Decodes base64 text into bytes, accepting missing padding.
    pub fn decode_data(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        LENIENT.decode(text)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = usize::from(!self.headers.is_empty()) + usize::from(!self.data.is_empty());
        let mut map = s.serialize_map(Some(len))?;
        if !self.headers.is_empty() {
            map.serialize_entry("headers", &self.headers)?;
        }
        if !self.data.is_empty() {
            map.serialize_entry("data", &general_purpose::STANDARD.encode(&self.data))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            headers: Option<BTreeMap<String, String>>,
            #[serde(default)]
            data: Option<String>,
        }
        let wire = Option::<Wire>::deserialize(d)?;
        let Some(wire) = wire else {
            return Ok(Value::default());
        };
        let data = match wire.data {
            Some(text) => Value::decode_data(&text)
                .map_err(|e| D::Error::custom(format!("data is not valid base64: {e}")))?,
            None => Vec::new(),
        };
        Ok(Value { headers: wire.headers.unwrap_or_default(), data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_value_is_an_empty_object() {
        assert_eq!(serde_json::to_string(&Value::default()).unwrap(), "{}");
        let v: Value = serde_json::from_str(r#"{"headers":null,"data":null}"#).unwrap();
        assert!(v.is_empty());
        let v: Value = serde_json::from_str("null").unwrap();
        assert!(v.is_empty());
    }

    #[test]
    fn data_round_trips_as_base64() {
        let v: Value =
            serde_json::from_str(r#"{"headers":{"a":"b"},"data":"eyJyZXN1bHQiOiAic3VjY2VzcyJ9"}"#)
                .unwrap();
        assert_eq!(v.data, br#"{"result": "success"}"#);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, r#"{"headers":{"a":"b"},"data":"eyJyZXN1bHQiOiAic3VjY2VzcyJ9"}"#);
        let unpadded: Value = serde_json::from_str(r#"{"data":"YQ"}"#).unwrap();
        assert_eq!(unpadded.data, b"a");
    }

    #[test]
    fn bad_base64_is_an_error_that_says_so() {
        let err = serde_json::from_str::<Value>(r#"{"data":"!!"}"#).unwrap_err();
        assert!(err.to_string().contains("base64"), "{err}");
    }
}
