//! Wallets: the Ethereum-style address that names a signer.

use std::fmt;
use std::str::FromStr;

use secp256k1::PublicKey;

use crate::hash::keccak256;
use crate::hex::{self, HexProblem};

/// A signer's wallet: the last 20 bytes of Keccak-256 of its 64-byte uncompressed public key
/// (x ‖ y, without the `0x04` prefix). Written `0x` + 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Wallet([u8; 20]);

impl Wallet {
    /// The wallet with these 20 bytes.
    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The 20 bytes of the wallet.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The wallet of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        Self::from_uncompressed(&key.serialize_uncompressed())
    }

    /// The wallet of an uncompressed SEC1 public key (`0x04` ‖ x ‖ y).
    pub(crate) fn from_uncompressed(point: &[u8; 65]) -> Self {
        let digest = keccak256(&point[1..]);
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&digest[12..]);
        Self(bytes)
    }
}

impl fmt::Display for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(&self.0))
    }
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wallet({self})")
    }
}

/// Why a string is not a wallet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletParseError {
    /// The string does not start with `0x`.
    #[error("a wallet starts with `0x` followed by 40 hex digits; this one has no `0x`")]
    MissingPrefix,
    /// Not 40 digits after `0x`.
    #[error(
        "a wallet is `0x` followed by 40 hex digits; this one has {digits} characters after `0x`"
    )]
    WrongLength {
        /// How many characters follow `0x`.
        digits: usize,
    },
    /// A character after `0x` is not a hex digit.
    #[error(
        "a wallet is `0x` followed by 40 hex digits; character {position} after `0x` is not a hex digit"
    )]
    NotHex {
        /// Its position after `0x`, counting from 1.
        position: usize,
    },
}

impl FromStr for Wallet {
    type Err = WalletParseError;

    /// Reads `0x` + 40 hex digits in any case (checksummed EIP-55 wallets included, the checksum
    /// is not checked); `0X` is accepted too.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .ok_or(WalletParseError::MissingPrefix)?;
        let mut bytes = [0u8; 20];
        hex::decode_into(digits, &mut bytes).map_err(|problem| match problem {
            HexProblem::Length(digits) => WalletParseError::WrongLength { digits },
            HexProblem::NotHex(index) => WalletParseError::NotHex { position: index + 1 },
        })?;
        Ok(Self(bytes))
    }
}

impl serde::Serialize for Wallet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Wallet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WalletVisitor;
        impl serde::de::Visitor<'_> for WalletVisitor {
            type Value = Wallet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a wallet: `0x` followed by 40 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Wallet, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(WalletVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23";

    #[test]
    fn displays_lowercase_and_parses_any_case() {
        let wallet: Wallet = "0x2C7536E3605D9C16a7a3d7b1898e529396a65c23".parse().unwrap();
        assert_eq!(wallet.to_string(), VECTOR);
        assert_eq!(format!("{wallet:?}"), format!("Wallet({VECTOR})"));
        assert_eq!("0X2c7536e3605d9c16a7a3d7b1898e529396a65c23".parse(), Ok(wallet));
        assert_eq!(Wallet::from_bytes(*wallet.as_bytes()), wallet);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        assert_eq!(
            "2c7536e3605d9c16a7a3d7b1898e529396a65c23".parse::<Wallet>(),
            Err(WalletParseError::MissingPrefix)
        );
        assert_eq!("0x2c75".parse::<Wallet>(), Err(WalletParseError::WrongLength { digits: 4 }));
        let err = "0x2c7536e3605d9c16a7a3d7b1898e529396a65cz3".parse::<Wallet>().unwrap_err();
        assert_eq!(err, WalletParseError::NotHex { position: 39 });
        assert!(err.to_string().contains("character 39"), "{err}");
    }

    #[test]
    fn serde_uses_the_string_form() {
        let wallet: Wallet = VECTOR.parse().unwrap();
        let json = serde_json::to_string(&wallet).unwrap();
        assert_eq!(json, format!("\"{VECTOR}\""));
        assert_eq!(serde_json::from_str::<Wallet>(&json).unwrap(), wallet);
        let err = serde_json::from_str::<Wallet>("\"0x12\"").unwrap_err();
        assert!(err.to_string().contains("40 hex digits"), "{err}");
    }
}
