use serde_json::json;

use super::*;

fn json_call(text: &str) -> Result<Call, CallError> {
    Call::decode(Format::Json, text.as_bytes())
}

/// A MessagePack payload written by hand: a map of `entries` whose values are raw bytes.
fn msgpack_map(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![0x80 | u8::try_from(entries.len()).unwrap()];
    for (key, value) in entries {
        out.push(0xa0 | u8::try_from(key.len()).unwrap());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value);
    }
    out
}

#[test]
fn decodes_a_full_json_call() {
    let call = json_call(
        r#"{"jsonrpc":"2.0","id":"a-1","method":"users.get_v2","params":{"ids":[1,2]},"ts":1700000000000}"#,
    )
    .unwrap();
    assert_eq!(
        call,
        Call {
            id: "a-1".into(),
            method: "users.get_v2".into(),
            params: json!({"ids": [1, 2]}),
            ts: Some(1_700_000_000_000),
        }
    );
}

#[test]
fn params_and_ts_are_optional() {
    let call = json_call(r#"{"id":"1","method":"ping"}"#).unwrap();
    assert_eq!(call, Call::new("1", "ping", Value::Null));
    let call = json_call(r#"{"id":"1","method":"ping","ts":null,"params":null}"#).unwrap();
    assert_eq!(call, Call::new("1", "ping", Value::Null));
    let call = json_call(r#"{"id":"1","method":"ping","ts":-5}"#).unwrap();
    assert_eq!(call.ts, Some(-5));
}

#[test]
fn json_and_msgpack_round_trip() {
    let mut call = Call::new("ü-42", "a.b-c_d", json!({"x": [1, -2, 2.5, null, true, "s", {}]}));
    for ts in [None, Some(1_700_000_000_123)] {
        call.ts = ts;
        assert_eq!(Call::decode(Format::Json, &call.to_json()).unwrap(), call);
        assert_eq!(Call::decode(Format::MsgPack, &call.to_msgpack()).unwrap(), call);
    }
    assert_eq!(
        String::from_utf8(call.to_json()).unwrap(),
        r#"{"id":"ü-42","method":"a.b-c_d","params":{"x":[1,-2,2.5,null,true,"s",{}]},"ts":1700000000123}"#
    );
    call.ts = None;
    assert!(!String::from_utf8(call.to_json()).unwrap().contains("ts"));
}

#[test]
fn to_msgpack_is_what_msgpack_javascript_writes() {
    // {id: "1", method: "ping", params: {}} by @msgpack/msgpack: fixmap 3, fixstr keys.
    let expected = msgpack_map(&[
        ("id", &[0xa1, b'1']),
        ("method", &[0xa4, b'p', b'i', b'n', b'g']),
        ("params", &[0x80]),
    ]);
    assert_eq!(Call::new("1", "ping", json!({})).to_msgpack(), expected);
    let mut call = Call::new("1", "ping", json!({}));
    call.ts = Some(1);
    let encoded = call.to_msgpack();
    assert_eq!(encoded[0], 0x84);
    assert!(encoded.ends_with(&[0xa2, b't', b's', 0x01]));
}

#[test]
fn missing_id_and_method_are_named() {
    let err = json_call(r#"{"method":"ping"}"#).unwrap_err();
    assert!(matches!(err, CallError::MissingId), "{err}");
    assert_eq!(err.to_string(), "missing id: every call needs an `id` (unique per wallet)");
    let err = json_call(r#"{"id":"1"}"#).unwrap_err();
    assert!(matches!(err, CallError::MissingMethod), "{err}");
    assert!(err.to_string().starts_with("missing method"), "{err}");
}

#[test]
fn id_rules() {
    let err = json_call(r#"{"id":7,"method":"m"}"#).unwrap_err();
    assert!(matches!(err, CallError::IdType { .. }), "{err}");
    assert!(err.to_string().contains("the number 7"), "{err}");
    let err = json_call(r#"{"id":"","method":"m"}"#).unwrap_err();
    assert!(matches!(err, CallError::IdLength { chars: 0 }), "{err}");
    let long = "é".repeat(257);
    let err = json_call(&format!(r#"{{"id":"{long}","method":"m"}}"#)).unwrap_err();
    assert!(matches!(err, CallError::IdLength { chars: 257 }), "{err}");
    let err = json_call(r#"{"id":"a\u0000b","method":"m"}"#).unwrap_err();
    assert!(matches!(err, CallError::IdControl { index: 1 }), "{err}");
    let at_limit = "é".repeat(256);
    assert_eq!(json_call(&format!(r#"{{"id":"{at_limit}","method":"m"}}"#)).unwrap().id, at_limit);
}

#[test]
fn method_rules() {
    let err = json_call(r#"{"id":"1","method":["m"]}"#).unwrap_err();
    assert!(matches!(err, CallError::MethodType { .. }), "{err}");
    assert!(err.to_string().contains("an array"), "{err}");
    let err = json_call(r#"{"id":"1","method":""}"#).unwrap_err();
    assert!(matches!(err, CallError::MethodLength { chars: 0 }), "{err}");
    let err = json_call(&format!(r#"{{"id":"1","method":"{}"}}"#, "m".repeat(129))).unwrap_err();
    assert!(matches!(err, CallError::MethodLength { chars: 129 }), "{err}");
    let err = json_call(r#"{"id":"1","method":"get user"}"#).unwrap_err();
    assert!(matches!(err, CallError::MethodChar { ch: ' ', position: 4 }), "{err}");
    assert!(err.to_string().contains("' ' at position 4"), "{err}");
    let err = json_call(r#"{"id":"1","method":"naïve"}"#).unwrap_err();
    assert!(matches!(err, CallError::MethodChar { ch: 'ï', .. }), "{err}");
}

#[test]
fn ts_must_be_an_integer() {
    for (ts, found) in [
        ("1.5", "the number 1.5"),
        ("1e3", "the number 1000.0"),
        (r#""1700000000000""#, "the string \"1700000000000\""),
        ("18446744073709551615", "beyond the 64-bit signed range"),
    ] {
        let err = json_call(&format!(r#"{{"id":"1","method":"m","ts":{ts}}}"#)).unwrap_err();
        assert!(matches!(err, CallError::TsType { .. }), "{ts}: {err}");
        assert!(err.to_string().contains(found), "{ts}: {err}");
    }
}

#[test]
fn unknown_and_duplicate_keys_are_named() {
    let err = json_call(r#"{"id":"1","method":"m","args":[]}"#).unwrap_err();
    assert!(matches!(&err, CallError::UnknownKey { key } if key == "args"), "{err}");
    assert!(err.to_string().contains("unknown key `args`"), "{err}");
    let err = json_call(r#"{"id":"1","method":"m","id":"2"}"#).unwrap_err();
    assert!(matches!(&err, CallError::DuplicateKey { key } if key == "id"), "{err}");
}

#[test]
fn jsonrpc_must_be_2_0() {
    assert!(json_call(r#"{"jsonrpc":"2.0","id":"1","method":"m"}"#).is_ok());
    let err = json_call(r#"{"jsonrpc":"1.0","id":"1","method":"m"}"#).unwrap_err();
    assert!(matches!(err, CallError::JsonRpcVersion { .. }), "{err}");
    assert!(err.to_string().contains("\"1.0\""), "{err}");
    let err = json_call(r#"{"jsonrpc":2,"id":"1","method":"m"}"#).unwrap_err();
    assert!(matches!(err, CallError::JsonRpcVersion { .. }), "{err}");
}

#[test]
fn not_an_object_or_not_json() {
    for (text, found) in [("[1]", "an array"), ("\"x\"", "a string"), ("null", "null")] {
        let err = json_call(text).unwrap_err();
        assert!(matches!(err, CallError::NotAnObject { found: f } if f == found), "{err}");
    }
    let err = json_call(r#"{"id":"1","method":"m"} x"#).unwrap_err();
    assert!(matches!(err, CallError::Json(_)), "{err}");
    let err = Call::decode(Format::Json, b"{\"id\":\"\xff\",\"method\":\"m\"}").unwrap_err();
    assert!(matches!(err, CallError::Json(_)), "{err}");
    let err = Call::decode(Format::MsgPack, &[0x93, 0x01, 0x02, 0x03]).unwrap_err();
    assert!(matches!(err, CallError::NotAnObject { found: "an array" }), "{err}");
}

#[test]
fn msgpack_binary_inside_params_names_the_path() {
    // params: {"list": [1, <bin 2 bytes>]}
    let params: &[u8] = &[0x81, 0xa4, b'l', b'i', b's', b't', 0x92, 0x01, 0xc4, 0x02, 0xde, 0xad];
    let payload =
        msgpack_map(&[("id", &[0xa1, b'1']), ("method", &[0xa1, b'm']), ("params", params)]);
    let err = Call::decode(Format::MsgPack, &payload).unwrap_err();
    assert!(matches!(&err, CallError::Binary { path } if path == "`params.list[1]`"), "{err}");
    assert!(err.to_string().starts_with("`params.list[1]` is MessagePack binary data"), "{err}");
}

#[test]
fn msgpack_values_json_cannot_carry_are_refused() {
    let call = |params: &[u8]| {
        let payload =
            msgpack_map(&[("id", &[0xa1, b'1']), ("method", &[0xa1, b'm']), ("params", params)]);
        Call::decode(Format::MsgPack, &payload)
    };
    // A timestamp extension (type -1), as @msgpack/msgpack writes a Date.
    let err = call(&[0xd6, 0xff, 0, 0, 0, 1]).unwrap_err();
    assert!(matches!(err, CallError::Extension { ext_type: -1, .. }), "{err}");
    // NaN as float64.
    let err = call(&[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]).unwrap_err();
    assert!(matches!(&err, CallError::NonFiniteFloat { path } if path == "`params`"), "{err}");
    // An integer map key.
    let err = call(&[0x81, 0x01, 0xc0]).unwrap_err();
    assert!(
        matches!(&err, CallError::NonStringKey { path, found: "an integer" } if path == "`params`"),
        "{err}"
    );
    // A string that is not UTF-8, under a key that needs quoting.
    let err = call(&[0x81, 0xa3, b'a', b' ', b'b', 0xa1, 0xff]).unwrap_err();
    assert!(
        matches!(&err, CallError::InvalidUtf8 { path } if path == r#"`params["a b"]`"#),
        "{err}"
    );
    // A float32 that is finite is fine.
    assert_eq!(call(&[0xca, 0x3f, 0xc0, 0, 0]).unwrap().params, json!(1.5));
}

#[test]
fn msgpack_structure_errors() {
    let good = Call::new("1", "m", json!([1])).to_msgpack();
    let mut trailing = good.clone();
    trailing.push(0xc0);
    let err = Call::decode(Format::MsgPack, &trailing).unwrap_err();
    assert!(matches!(err, CallError::TrailingBytes { count: 1 }), "{err}");
    for len in 0..good.len() {
        let err = Call::decode(Format::MsgPack, &good[..len]).unwrap_err();
        assert!(matches!(err, CallError::MsgPack(_)), "cut at {len}: {err}");
    }
    // A top-level key that is not a string, and an unknown key, named before its value is read.
    let err = Call::decode(Format::MsgPack, &[0x81, 0x01, 0xc0]).unwrap_err();
    assert!(
        matches!(&err, CallError::NonStringKey { path, .. } if path == "the top level"),
        "{err}"
    );
    let err = Call::decode(Format::MsgPack, &msgpack_map(&[("blob", &[0xc4, 0x00])])).unwrap_err();
    assert!(matches!(&err, CallError::UnknownKey { key } if key == "blob"), "{err}");
    let payload = msgpack_map(&[("id", &[0xa1, b'1']), ("id", &[0xa1, b'2'])]);
    let err = Call::decode(Format::MsgPack, &payload).unwrap_err();
    assert!(matches!(&err, CallError::DuplicateKey { key } if key == "id"), "{err}");
}

#[test]
fn msgpack_nesting_is_bounded() {
    let deep = |levels: usize| {
        let mut params = vec![0x91; levels];
        params.push(0xc0);
        let payload =
            msgpack_map(&[("id", &[0xa1, b'1']), ("method", &[0xa1, b'm']), ("params", &params)]);
        Call::decode(Format::MsgPack, &payload)
    };
    assert!(deep(MAX_DEPTH).is_ok());
    let err = deep(MAX_DEPTH + 1).unwrap_err();
    assert!(matches!(err, CallError::TooDeep { max: MAX_DEPTH, .. }), "{err}");
    // Far deeper than the stack could recurse: refused, not a crash.
    assert!(matches!(deep(1_000_000), Err(CallError::TooDeep { .. })));
}

#[test]
fn msgpack_huge_claimed_lengths_allocate_nothing() {
    // params: array32 claiming 4 billion elements, with none present.
    let payload = msgpack_map(&[
        ("id", &[0xa1, b'1']),
        ("method", &[0xa1, b'm']),
        ("params", &[0xdd, 0xff, 0xff, 0xff, 0xff]),
    ]);
    let err = Call::decode(Format::MsgPack, &payload).unwrap_err();
    assert!(matches!(err, CallError::MsgPack(_)), "{err}");
}
