//! The two wire formats of calls, and their content types.

use std::fmt;
use std::str::FromStr;

/// The content type of a signed MessagePack envelope.
pub const MSGPACK_CONTENT_TYPE: &str = "application/x-audius-msg";
/// The content type of a signed JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The format of a call's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// MessagePack, inside the signed envelope `[11, payload, signature, recoveryId]`.
    MsgPack,
    /// JSON, signed in the `x-sig` header.
    Json,
}

/// A format name that is neither "msgpack" nor "json".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call format {0:?}; the formats are \"msgpack\" and \"json\"")]
pub struct UnknownFormat(pub String);

impl Format {
    /// "msgpack" or "json".
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MsgPack => "msgpack",
            Self::Json => "json",
        }
    }

    /// Reads "msgpack" or "json", in any case.
    pub fn parse(name: &str) -> Result<Self, UnknownFormat> {
        if name.eq_ignore_ascii_case("msgpack") {
            Ok(Self::MsgPack)
        } else if name.eq_ignore_ascii_case("json") {
            Ok(Self::Json)
        } else {
            Err(UnknownFormat(name.chars().take(64).collect()))
        }
    }

    /// The content type of a signed call in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::MsgPack => MSGPACK_CONTENT_TYPE,
            Self::Json => JSON_CONTENT_TYPE,
        }
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for format in [Format::MsgPack, Format::Json] {
            assert_eq!(Format::parse(format.as_str()), Ok(format));
            assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        }
        assert_eq!(Format::parse("JSON"), Ok(Format::Json));
        assert_eq!(Format::MsgPack.content_type(), "application/x-audius-msg");
        let err = Format::parse("xml").unwrap_err();
        assert!(err.to_string().contains("\"xml\""), "{err}");
    }
}
