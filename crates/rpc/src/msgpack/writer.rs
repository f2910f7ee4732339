//! Writes MessagePack into memory with `rmp`'s encoders, which pick the shortest form of each
//! integer and length, as @msgpack/msgpack does.

use std::convert::Infallible;

use rmp::encode::{self, ByteBuf, ValueWriteError};
use serde_json::Value;

/// A MessagePack writer into a growing buffer; writing to memory cannot fail.
pub(crate) struct Writer(ByteBuf);

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(ByteBuf::with_capacity(capacity))
    }

    /// The bytes written.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.0.into_vec()
    }

    /// An array header; its `len` elements follow.
    pub(crate) fn array_len(&mut self, len: usize) {
        done(encode::write_array_len(&mut self.0, len32(len)));
    }

    /// A map header; its `len` key-value pairs follow.
    pub(crate) fn map_len(&mut self, len: usize) {
        done(encode::write_map_len(&mut self.0, len32(len)));
    }

    /// A non-negative integer.
    pub(crate) fn uint(&mut self, value: u64) {
        done(encode::write_uint(&mut self.0, value));
    }

    /// A string.
    pub(crate) fn str(&mut self, text: &str) {
        len32(text.len());
        done(encode::write_str(&mut self.0, text));
    }

    /// A binary.
    pub(crate) fn bin(&mut self, data: &[u8]) {
        len32(data.len());
        done(encode::write_bin(&mut self.0, data));
    }

    /// A JSON value: objects as maps with string keys, integers as integers, other numbers as
    /// 64-bit floats.
    pub(crate) fn value(&mut self, value: &Value) {
        match value {
            Value::Null => written(encode::write_nil(&mut self.0)),
            Value::Bool(flag) => written(encode::write_bool(&mut self.0, *flag)),
            Value::Number(number) => {
                if let Some(unsigned) = number.as_u64() {
                    self.uint(unsigned);
                } else if let Some(signed) = number.as_i64() {
                    done(encode::write_sint(&mut self.0, signed));
                } else {
                    // serde_json numbers without arbitrary precision are u64, i64 or f64.
                    let float = number.as_f64().unwrap_or(f64::NAN);
                    done(encode::write_f64(&mut self.0, float));
                }
            }
            Value::String(text) => self.str(text),
            Value::Array(items) => {
                self.array_len(items.len());
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => {
                self.map_len(map.len());
                for (key, item) in map {
                    self.str(key);
                    self.value(item);
                }
            }
        }
    }
}

/// A MessagePack length: strings, binaries, arrays and maps hold at most `u32::MAX` bytes or
/// elements.
///
/// # Panics
/// Beyond that limit, which MessagePack cannot express (rmp would silently truncate it).
fn len32(len: usize) -> u32 {
    u32::try_from(len).expect("MessagePack cannot hold more than 4 GiB - 1 bytes or elements")
}

/// The value of a write to memory, which has no error.
fn done<T>(result: Result<T, ValueWriteError<Infallible>>) -> T {
    match result {
        Ok(value) => value,
        Err(
            ValueWriteError::InvalidMarkerWrite(never) | ValueWriteError::InvalidDataWrite(never),
        ) => match never {},
    }
}

/// A marker-only write to memory, which has no error.
fn written(result: Result<(), Infallible>) {
    match result {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_shortest_forms() {
        let mut writer = Writer::with_capacity(16);
        writer.array_len(2);
        writer.uint(11);
        writer.bin(&[1, 2]);
        writer.value(&serde_json::json!({"a": [-1, 1.5, null, true, "x"]}));
        assert_eq!(
            writer.into_vec(),
            [
                0x92, 0x0b, 0xc4, 0x02, 1, 2, 0x81, 0xa1, b'a', 0x95, 0xff, 0xcb, 0x3f, 0xf8, 0, 0,
                0, 0, 0, 0, 0xc0, 0xc3, 0xa1, b'x'
            ]
        );
    }
}
