//! Reads MessagePack items one marker at a time from a byte slice, borrowing strings and
//! binaries, never allocating from a length the data claims.

use rmp::Marker;

use super::MsgPackError;

/// One MessagePack item: a scalar, or the header of an array or map whose elements follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Item<'a> {
    /// nil.
    Nil,
    /// true or false.
    Bool(bool),
    /// A non-negative integer, whatever its encoding (unsigned or signed).
    Uint(u64),
    /// A negative integer.
    Neg(i64),
    /// A 32-bit float.
    F32(f32),
    /// A 64-bit float.
    F64(f64),
    /// A string's bytes (not yet checked to be UTF-8).
    Str(&'a [u8]),
    /// A binary.
    Bin(&'a [u8]),
    /// An array of this many elements, which follow.
    Array(u32),
    /// A map of this many key-value pairs, which follow.
    Map(u32),
    /// An extension value: its type and data.
    Ext(i8, &'a [u8]),
}

impl Item<'_> {
    /// What the item is, for error messages ("found {}").
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Bool(_) => "a boolean",
            Self::Uint(_) | Self::Neg(_) => "an integer",
            Self::F32(_) | Self::F64(_) => "a float",
            Self::Str(_) => "a string",
            Self::Bin(_) => "binary data",
            Self::Array(_) => "an array",
            Self::Map(_) => "a map",
            Self::Ext(..) => "an extension value",
        }
    }
}

/// A cursor over MessagePack bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    /// How many bytes are left after the items read so far.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Reads the next item.
    pub(crate) fn next_item(&mut self) -> Result<Item<'a>, MsgPackError> {
        let start = self.offset;
        let marker = Marker::from_u8(self.take_array::<1>()?[0]);
        Ok(match marker {
            Marker::Reserved => return Err(MsgPackError::Reserved { offset: start }),
            Marker::Null => Item::Nil,
            Marker::True => Item::Bool(true),
            Marker::False => Item::Bool(false),
            Marker::FixPos(value) => Item::Uint(u64::from(value)),
            Marker::FixNeg(value) => Item::Neg(i64::from(value)),
            Marker::U8 => Item::Uint(u64::from(self.take_array::<1>()?[0])),
            Marker::U16 => Item::Uint(u64::from(u16::from_be_bytes(self.take_array()?))),
            Marker::U32 => Item::Uint(u64::from(u32::from_be_bytes(self.take_array()?))),
            Marker::U64 => Item::Uint(u64::from_be_bytes(self.take_array()?)),
            Marker::I8 => signed(i64::from(i8::from_be_bytes(self.take_array()?))),
            Marker::I16 => signed(i64::from(i16::from_be_bytes(self.take_array()?))),
            Marker::I32 => signed(i64::from(i32::from_be_bytes(self.take_array()?))),
            Marker::I64 => signed(i64::from_be_bytes(self.take_array()?)),
            Marker::F32 => Item::F32(f32::from_be_bytes(self.take_array()?)),
            Marker::F64 => Item::F64(f64::from_be_bytes(self.take_array()?)),
            Marker::FixStr(len) => Item::Str(self.take(usize::from(len))?),
            Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let len = self.length(marker)?;
                Item::Str(self.take(len)?)
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let len = self.length(marker)?;
                Item::Bin(self.take(len)?)
            }
            Marker::FixArray(len) => Item::Array(u32::from(len)),
            Marker::Array16 => Item::Array(u32::from(u16::from_be_bytes(self.take_array()?))),
            Marker::Array32 => Item::Array(u32::from_be_bytes(self.take_array()?)),
            Marker::FixMap(len) => Item::Map(u32::from(len)),
            Marker::Map16 => Item::Map(u32::from(u16::from_be_bytes(self.take_array()?))),
            Marker::Map32 => Item::Map(u32::from_be_bytes(self.take_array()?)),
            Marker::FixExt1 => self.ext(1)?,
            Marker::FixExt2 => self.ext(2)?,
            Marker::FixExt4 => self.ext(4)?,
            Marker::FixExt8 => self.ext(8)?,
            Marker::FixExt16 => self.ext(16)?,
            Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
                let len = self.length(marker)?;
                self.ext(len)?
            }
        })
    }

    /// The 1-, 2- or 4-byte length after a str/bin/ext 8, 16 or 32 marker.
    fn length(&mut self, marker: Marker) -> Result<usize, MsgPackError> {
        let len = match marker {
            Marker::Str8 | Marker::Bin8 | Marker::Ext8 => u32::from(self.take_array::<1>()?[0]),
            Marker::Str16 | Marker::Bin16 | Marker::Ext16 => {
                u32::from(u16::from_be_bytes(self.take_array()?))
            }
            _ => u32::from_be_bytes(self.take_array()?),
        };
        // A length larger than the address space cannot be satisfied by the slice either.
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// An extension value of `len` data bytes, after its type byte.
    fn ext(&mut self, len: usize) -> Result<Item<'a>, MsgPackError> {
        let kind = i8::from_be_bytes(self.take_array()?);
        Ok(Item::Ext(kind, self.take(len)?))
    }

    /// The next `N` bytes.
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], MsgPackError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// The next `len` bytes, or how many are missing.
    fn take(&mut self, len: usize) -> Result<&'a [u8], MsgPackError> {
        let rest = &self.bytes[self.offset..];
        match rest.get(..len) {
            Some(taken) => {
                self.offset += len;
                Ok(taken)
            }
            None => Err(MsgPackError::Truncated { offset: self.offset, needed: len - rest.len() }),
        }
    }
}

/// A signed integer as an item: non-negative values read like unsigned ones.
fn signed(value: i64) -> Item<'static> {
    match u64::try_from(value) {
        Ok(value) => Item::Uint(value),
        Err(_) => Item::Neg(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(bytes: &[u8]) -> Result<Vec<Item<'_>>, MsgPackError> {
        let mut reader = Reader::new(bytes);
        let mut out = Vec::new();
        while reader.remaining() > 0 {
            out.push(reader.next_item()?);
        }
        Ok(out)
    }

    #[test]
    fn reads_scalars_and_headers() {
        let bytes = [
            0xc0, 0xc3, 0x0b, 0xff, 0xd0, 0x05, 0xd1, 0xff, 0x00, 0xcd, 0x01, 0x00, 0xa2, b'h',
            b'i', 0xc4, 0x01, 0xaa, 0x92, 0x81, 0xd4, 0x01, 0x07,
        ];
        assert_eq!(
            items(&bytes).unwrap(),
            vec![
                Item::Nil,
                Item::Bool(true),
                Item::Uint(11),
                Item::Neg(-1),
                Item::Uint(5),
                Item::Neg(-256),
                Item::Uint(256),
                Item::Str(b"hi"),
                Item::Bin(&[0xaa]),
                Item::Array(2),
                Item::Map(1),
                Item::Ext(1, &[0x07]),
            ]
        );
    }

    #[test]
    fn truncation_and_reserved_byte_are_errors() {
        assert_eq!(
            items(&[0xc4, 0x05, 1, 2]),
            Err(MsgPackError::Truncated { offset: 2, needed: 3 })
        );
        assert_eq!(items(&[0xcd, 0x01]), Err(MsgPackError::Truncated { offset: 1, needed: 1 }));
        // A bin32 claiming 4 GiB allocates nothing and fails.
        assert!(matches!(
            items(&[0xc6, 0xff, 0xff, 0xff, 0xff]),
            Err(MsgPackError::Truncated { offset: 5, .. })
        ));
        assert_eq!(items(&[0xc0, 0xc1]), Err(MsgPackError::Reserved { offset: 1 }));
    }
}
