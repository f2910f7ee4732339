//! The rules of a call's top-level keys: which are allowed, required, and what each holds.

use serde_json::Value;

use super::Call;
use super::error::CallError;

/// The longest `id`, in characters.
pub const MAX_ID_CHARS: usize = 256;
/// The longest `method`, in characters.
pub const MAX_METHOD_CHARS: usize = 128;

/// Refuses a top-level key other than id, method, params, ts and jsonrpc.
pub(super) fn check_key(key: &str) -> Result<(), CallError> {
    match key {
        "id" | "method" | "params" | "ts" | "jsonrpc" => Ok(()),
        _ => Err(CallError::UnknownKey { key: key.chars().take(64).collect() }),
    }
}

/// The call made of these top-level entries, in their order.
pub(super) fn assemble(
    entries: impl IntoIterator<Item = (String, Value)>,
) -> Result<Call, CallError> {
    let mut id = None;
    let mut method = None;
    let mut params = None;
    let mut ts = None;
    let mut jsonrpc = None;
    for (key, value) in entries {
        check_key(&key)?;
        let slot = match key.as_str() {
            "id" => &mut id,
            "method" => &mut method,
            "params" => &mut params,
            "ts" => &mut ts,
            _ => &mut jsonrpc,
        };
        if slot.replace(value).is_some() {
            return Err(CallError::DuplicateKey { key });
        }
    }
    let id = id_of(id.ok_or(CallError::MissingId)?)?;
    let method = method_of(method.ok_or(CallError::MissingMethod)?)?;
    let ts = ts.map(ts_of).transpose()?.flatten();
    if let Some(version) = jsonrpc
        && version.as_str() != Some("2.0")
    {
        return Err(CallError::JsonRpcVersion { found: describe(&version) });
    }
    Ok(Call { id, method, params: params.unwrap_or(Value::Null), ts })
}

/// A valid `id`: a string of 1 to 256 characters, none of them a control character (ids are
/// kept as text, which PostgreSQL cannot hold with a NUL in it).
fn id_of(value: Value) -> Result<String, CallError> {
    let Value::String(id) = value else {
        return Err(CallError::IdType { found: describe(&value) });
    };
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS {
        return Err(CallError::IdLength { chars });
    }
    if let Some(index) = id.chars().position(char::is_control) {
        return Err(CallError::IdControl { index });
    }
    Ok(id)
}

/// A valid `method`: 1 to 128 ASCII letters, digits, `_`, `.` and `-`.
fn method_of(value: Value) -> Result<String, CallError> {
    let Value::String(method) = value else {
        return Err(CallError::MethodType { found: describe(&value) });
    };
    if let Some((index, ch)) = method
        .chars()
        .enumerate()
        .find(|(_, ch)| !(ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-')))
    {
        return Err(CallError::MethodChar { ch, position: index + 1 });
    }
    // ASCII only from here on: bytes are characters.
    if method.is_empty() || method.len() > MAX_METHOD_CHARS {
        return Err(CallError::MethodLength { chars: method.len() });
    }
    Ok(method)
}

/// A valid `ts`: an integer (epoch milliseconds); null reads as absent.
fn ts_of(value: Value) -> Result<Option<i64>, CallError> {
    match &value {
        Value::Null => Ok(None),
        Value::Number(number) => match number.as_i64() {
            Some(ts) => Ok(Some(ts)),
            None if number.is_u64() => Err(CallError::TsType {
                found: "an integer beyond the 64-bit signed range".to_owned(),
            }),
            None => Err(CallError::TsType { found: describe(&value) }),
        },
        _ => Err(CallError::TsType { found: describe(&value) }),
    }
}

/// What a value is, for error messages: its type, and short strings and numbers themselves.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) if text.chars().count() <= 32 => format!("the string {text:?}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
