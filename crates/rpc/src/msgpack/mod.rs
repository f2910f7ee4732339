//! The MessagePack subset of signed calls: a bounds-checked reader over a byte slice and a
//! writer into memory, both on `rmp`'s markers and encoders.

mod reader;
mod writer;

pub(crate) use reader::{Item, Reader};
pub(crate) use writer::Writer;

/// Why bytes are not MessagePack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgPackError {
    /// The data ends inside a value.
    #[error("the MessagePack data ends early: {needed} more bytes needed at byte {offset}")]
    Truncated {
        /// Where the missing bytes should start.
        offset: usize,
        /// How many bytes are missing.
        needed: usize,
    },
    /// The byte 0xc1, which MessagePack never uses, stands where a value should start.
    #[error("byte {offset} is 0xc1, which is not a MessagePack type")]
    Reserved {
        /// Where.
        offset: usize,
    },
}
