//! Why a payload is not a valid call: [`CallError`], each message fit for an HTTP 400 answer.

use crate::msgpack::MsgPackError;

/// Why a payload is not a valid call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The JSON payload does not parse (syntax, not UTF-8, trailing characters, nesting).
    #[error("the call is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The MessagePack payload does not parse (truncated, or a reserved byte).
    #[error("the call is not valid MessagePack: {0}")]
    MsgPack(#[source] MsgPackError),
    /// Bytes follow the MessagePack map of the call.
    #[error("{count} bytes follow the call's MessagePack map; send the map alone")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// MessagePack nested deeper than JSON values may be here.
    #[error("the call nests more than {max} arrays and maps deep, at {path}")]
    TooDeep {
        /// Where the limit was crossed.
        path: String,
        /// The limit.
        max: usize,
    },
    /// A MessagePack binary value, which JSON cannot carry.
    #[error(
        "{path} is MessagePack binary data; calls carry JSON values only (send bytes as a base64 or hex string)"
    )]
    Binary {
        /// Where it is, e.g. `` `params.blob` ``.
        path: String,
    },
    /// A MessagePack extension value (a timestamp, for one), which JSON cannot carry.
    #[error(
        "{path} is a MessagePack extension value (type {ext_type}); calls carry JSON values only (send times as epoch milliseconds)"
    )]
    Extension {
        /// Where it is.
        path: String,
        /// The extension type (-1 is the timestamp).
        ext_type: i8,
    },
    /// A MessagePack map key that is not a string.
    #[error("a key of the map at {path} is {found}; map keys must be strings")]
    NonStringKey {
        /// The map.
        path: String,
        /// What the key is.
        found: &'static str,
    },
    /// A MessagePack string that is not UTF-8.
    #[error("the string at {path} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where it is (for a map key: the map).
        path: String,
    },
    /// A MessagePack float that is NaN or infinite, which JSON cannot carry.
    #[error("{path} is NaN or infinite, which JSON cannot carry")]
    NonFiniteFloat {
        /// Where it is.
        path: String,
    },
    /// The payload is not an object (map).
    #[error(
        "a call must be a JSON object (a MessagePack map) with `id`, `method` and optional `params` and `ts`; found {found}"
    )]
    NotAnObject {
        /// What it is instead.
        found: &'static str,
    },
    /// A top-level key appears twice.
    #[error("the key `{key}` appears twice in the call")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A top-level key other than id, method, params, ts and jsonrpc.
    #[error("unknown key `{key}` in the call; the keys are id, method, params, ts and jsonrpc")]
    UnknownKey {
        /// The key (its first 64 characters).
        key: String,
    },
    /// No `id`.
    #[error("missing id: every call needs an `id` (unique per wallet)")]
    MissingId,
    /// `id` is not a string.
    #[error("`id` must be a string of 1 to 256 characters (unique per wallet); found {found}")]
    IdType {
        /// What it is instead.
        found: String,
    },
    /// `id` is empty or longer than 256 characters.
    #[error("`id` has {chars} characters; it must have 1 to 256 (unique per wallet)")]
    IdLength {
        /// Its length in characters.
        chars: usize,
    },
    /// `id` holds a control character.
    #[error("`id` contains a control character (at character {index}); ids must be printable text")]
    IdControl {
        /// Where, in characters from 0.
        index: usize,
    },
    /// No `method`.
    #[error("missing method: every call needs a `method` (the name of the procedure to call)")]
    MissingMethod,
    /// `method` is not a string.
    #[error(
        "`method` must be a string of 1 to 128 ASCII letters, digits, `_`, `.` and `-`; found {found}"
    )]
    MethodType {
        /// What it is instead.
        found: String,
    },
    /// `method` is empty or longer than 128 characters.
    #[error("`method` has {chars} characters; it must have 1 to 128")]
    MethodLength {
        /// Its length in characters.
        chars: usize,
    },
    /// `method` has a character other than ASCII letters, digits, `_`, `.` and `-`.
    #[error(
        "`method` has {ch:?} at position {position}; methods use ASCII letters, digits, `_`, `.` and `-` only"
    )]
    MethodChar {
        /// The character.
        ch: char,
        /// Its position, counting from 1.
        position: usize,
    },
    /// `ts` is not an integer.
    #[error("`ts` must be an integer (epoch milliseconds) when present; found {found}")]
    TsType {
        /// What it is instead.
        found: String,
    },
    /// `jsonrpc` is present and not "2.0".
    #[error("`jsonrpc` must be \"2.0\" when present; found {found}")]
    JsonRpcVersion {
        /// What it is instead.
        found: String,
    },
}
