//! The two digests of signed calls: SHA-256 (MessagePack envelopes) and Keccak-256 (JSON bodies
//! and wallets).

use sha2::Digest as _;

/// SHA-256 of `data` (no prefix): what the MessagePack envelope's signature signs.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// Keccak-256 of `data`, Ethereum's (the original Keccak padding, not NIST SHA3-256): what the
/// JSON body's signature signs, and the hash a wallet is taken from.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut hasher = sha3::Keccak256::default();
    sha3::Digest::update(&mut hasher, data);
    sha3::Digest::finalize(hasher).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_of_abc_is_the_fips_vector() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn keccak256_is_ethereums_not_sha3() {
        // Keccak-256("") as used by Ethereum; SHA3-256("") would be a7ffc6f8...
        assert_eq!(
            hex(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }
}
