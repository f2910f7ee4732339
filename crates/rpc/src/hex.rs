//! Hexadecimal text of wallets and secret keys (lowercase out, any case in).

/// Why a hex string did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HexProblem {
    /// The string has this many characters instead of twice the byte count.
    Length(usize),
    /// The character at this (zero-based, in characters) position is not a hex digit.
    NotHex(usize),
}

/// Lowercase hex of `bytes`, two digits a byte.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes `text` (hex digits in any case, nothing else) into `out`, which fixes the length.
pub(crate) fn decode_into(text: &str, out: &mut [u8]) -> Result<(), HexProblem> {
    if let Some(index) = text.chars().position(|c| !c.is_ascii_hexdigit()) {
        return Err(HexProblem::NotHex(index));
    }
    // All characters are ASCII from here on, so bytes and characters coincide.
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return Err(HexProblem::Length(digits.len()));
    }
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
    Ok(())
}

/// The value of one ASCII hex digit (already checked to be one).
fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        // Not reached: `decode_into` checks every digit first.
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_any_case() {
        let bytes = [0x00, 0x9f, 0xa0, 0xff];
        assert_eq!(encode(&bytes), "009fa0ff");
        let mut out = [0u8; 4];
        decode_into("009FA0fF", &mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn names_the_problem() {
        let mut out = [0u8; 2];
        assert_eq!(decode_into("abc", &mut out), Err(HexProblem::Length(3)));
        assert_eq!(decode_into("ab×d", &mut out), Err(HexProblem::NotHex(2)));
        assert_eq!(decode_into("abcg", &mut out), Err(HexProblem::NotHex(3)));
    }
}
