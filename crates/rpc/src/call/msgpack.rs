//! A call's MessagePack payload as JSON values: a map with string keys, whose values may be
//! anything JSON can carry (no binary, no extension values, no NaN), with the path of the first
//! value that is not.

use serde_json::{Map, Number, Value};

use super::error::CallError;
use super::fields;
use crate::msgpack::{Item, Reader};

/// How many arrays and maps may nest in a call (serde_json's own limit for JSON).
pub const MAX_DEPTH: usize = 128;

/// One step of the path to a value: a map key or an array index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The top-level entries of a MessagePack call, in their order.
pub(super) fn entries(payload: &[u8]) -> Result<Vec<(String, Value)>, CallError> {
    let mut reader = Reader::new(payload);
    let len = match next(&mut reader)? {
        Item::Map(len) => len,
        other => return Err(CallError::NotAnObject { found: other.kind() }),
    };
    let mut path = Vec::new();
    let mut entries = Vec::new();
    for _ in 0..len {
        let key = key(&mut reader, &path)?;
        fields::check_key(key)?;
        path.push(Step::Key(key));
        let value = value(&mut reader, &mut path, 1)?;
        path.pop();
        entries.push((key.to_owned(), value));
    }
    if reader.remaining() > 0 {
        return Err(CallError::TrailingBytes { count: reader.remaining() });
    }
    Ok(entries)
}

/// A whole MessagePack document as a JSON value (the answer of a signed query), with the same
/// rules as a call's values.
pub(crate) fn document(bytes: &[u8]) -> Result<Value, CallError> {
    let mut reader = Reader::new(bytes);
    let value = value(&mut reader, &mut Vec::new(), 0)?;
    if reader.remaining() > 0 {
        return Err(CallError::TrailingBytes { count: reader.remaining() });
    }
    Ok(value)
}

/// The value at `path`, whose containers nest `depth` deep.
fn value<'a>(
    reader: &mut Reader<'a>,
    path: &mut Vec<Step<'a>>,
    depth: usize,
) -> Result<Value, CallError> {
    Ok(match next(reader)? {
        Item::Nil => Value::Null,
        Item::Bool(flag) => Value::Bool(flag),
        Item::Uint(number) => Value::from(number),
        Item::Neg(number) => Value::from(number),
        Item::F32(number) => float(f64::from(number), path)?,
        Item::F64(number) => float(number, path)?,
        Item::Str(bytes) => Value::String(utf8(bytes, path)?.to_owned()),
        Item::Bin(_) => return Err(CallError::Binary { path: show(path) }),
        Item::Ext(ext_type, _) => {
            return Err(CallError::Extension { path: show(path), ext_type });
        }
        Item::Array(len) => {
            deeper(depth, path)?;
            // Every element takes a byte at least: the data left bounds the allocation, not the
            // count it claims.
            let mut items = Vec::with_capacity(bounded(len, reader));
            for index in 0..len_usize(len) {
                path.push(Step::Index(index));
                items.push(value(reader, path, depth + 1)?);
                path.pop();
            }
            Value::Array(items)
        }
        Item::Map(len) => {
            deeper(depth, path)?;
            let mut map = Map::new();
            for _ in 0..len {
                let key = key(reader, path)?;
                path.push(Step::Key(key));
                let item = value(reader, path, depth + 1)?;
                path.pop();
                map.insert(key.to_owned(), item);
            }
            Value::Object(map)
        }
    })
}

/// A map key, which must be a UTF-8 string; `path` is the map's.
fn key<'a>(reader: &mut Reader<'a>, path: &[Step<'_>]) -> Result<&'a str, CallError> {
    match next(reader)? {
        Item::Str(bytes) => utf8(bytes, path),
        other => Err(CallError::NonStringKey { path: show(path), found: other.kind() }),
    }
}

/// Refuses a container nested deeper than [`MAX_DEPTH`].
fn deeper(depth: usize, path: &[Step<'_>]) -> Result<(), CallError> {
    if depth > MAX_DEPTH {
        return Err(CallError::TooDeep { path: show(path), max: MAX_DEPTH });
    }
    Ok(())
}

/// A finite float as a JSON number.
fn float(number: f64, path: &[Step<'_>]) -> Result<Value, CallError> {
    Number::from_f64(number)
        .map(Value::Number)
        .ok_or_else(|| CallError::NonFiniteFloat { path: show(path) })
}

/// A MessagePack string's text.
fn utf8<'a>(bytes: &'a [u8], path: &[Step<'_>]) -> Result<&'a str, CallError> {
    std::str::from_utf8(bytes).map_err(|_| CallError::InvalidUtf8 { path: show(path) })
}

/// A claimed element count, capped by the bytes left (each element takes one at least).
fn bounded(len: u32, reader: &Reader<'_>) -> usize {
    len_usize(len).min(reader.remaining())
}

/// A claimed element count as usize.
fn len_usize(len: u32) -> usize {
    usize::try_from(len).unwrap_or(usize::MAX)
}

/// The next item.
fn next<'a>(reader: &mut Reader<'a>) -> Result<Item<'a>, CallError> {
    reader.next_item().map_err(CallError::MsgPack)
}

/// A path for error messages: `` `params.list[2]` ``, or "the top level".
fn show(path: &[Step<'_>]) -> String {
    if path.is_empty() {
        return "the top level".to_owned();
    }
    let mut out = String::from("`");
    for (position, step) in path.iter().enumerate() {
        match step {
            Step::Key(key) if is_plain(key) => {
                if position > 0 {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Key(key) => out.push_str(&format!("[{key:?}]")),
            Step::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out.push('`');
    out
}

/// Whether a key reads unambiguously after a dot.
fn is_plain(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '-'))
}
