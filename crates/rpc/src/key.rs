//! Secret keys: generation, hex text and key files.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use secp256k1::PublicKey;
use zeroize::Zeroizing;

use crate::hex::{self, HexProblem};
use crate::wallet::Wallet;

/// A secp256k1 secret key that signs calls. Its `Debug` shows the wallet, never the secret.
#[derive(Clone)]
pub struct SecretKey {
    /// The secret scalar, erased when the key is dropped.
    secret: secp256k1::SecretKey,
    /// Its public key, computed once.
    public: PublicKey,
}

/// Why a secret key could not be read, parsed, generated or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not 64 hex digits.
    #[error(
        "a secret key is 64 hex digits (32 bytes), optionally after `0x`; this one has {digits} characters"
    )]
    WrongLength {
        /// How many characters there are (after `0x`, without surrounding whitespace).
        digits: usize,
    },
    /// A character is not a hex digit.
    #[error(
        "a secret key is 64 hex digits (32 bytes), optionally after `0x`; character {position} is not a hex digit"
    )]
    NotHex {
        /// Its position (after `0x`), counting from 1.
        position: usize,
    },
    /// The 32 bytes are zero or not below the secp256k1 group order.
    #[error(
        "the secret key is zero or not below the secp256k1 group order n; it is not a valid key"
    )]
    OutOfRange,
    /// The key file could not be read.
    #[error("cannot read the secret key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file does not hold a valid key.
    #[error("the secret key file {path} does not hold a valid key: {source}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        source: Box<KeyError>,
    },
    /// `create_file` refuses to replace a file.
    #[error("the secret key file {path} already exists; it is not replaced")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The key file could not be created or written.
    #[error("cannot write the secret key file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(#[source] getrandom::Error),
}

impl SecretKey {
    /// A new random key from the operating system's generator.
    ///
    /// # Panics
    /// If the operating system's random number generator fails (see [`SecretKey::try_generate`]).
    pub fn generate() -> Self {
        Self::try_generate().unwrap_or_else(|err| panic!("cannot generate a secret key: {err}"))
    }

    /// A new random key from the operating system's generator, or why it failed.
    pub fn try_generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        loop {
            getrandom::fill(bytes.as_mut()).map_err(KeyError::Random)?;
            // Out of range (zero, or n or more) with probability below 2^-127: draw again.
            if let Ok(secret) = secp256k1::SecretKey::from_secret_bytes(*bytes) {
                return Ok(Self::from_secret(secret));
            }
        }
    }

    /// The key with this secret scalar.
    fn from_secret(secret: secp256k1::SecretKey) -> Self {
        Self { secret, public: PublicKey::from_secret_key(&secret) }
    }

    /// Reads 64 hex digits (any case), optionally after `0x`; surrounding whitespace is ignored.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_into(digits, bytes.as_mut()).map_err(|problem| match problem {
            HexProblem::Length(digits) => KeyError::WrongLength { digits },
            HexProblem::NotHex(index) => KeyError::NotHex { position: index + 1 },
        })?;
        secp256k1::SecretKey::from_secret_bytes(*bytes)
            .map(Self::from_secret)
            .map_err(|_| KeyError::OutOfRange)
    }

    /// The key as 64 lowercase hex digits, without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.secret.as_secret_bytes())
    }

    /// Reads a key file: the key in hex (see [`SecretKey::from_hex`]).
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|source| KeyError::Read { path: path.to_path_buf(), source })?,
        );
        Self::from_hex(&text).map_err(|source| KeyError::InvalidFile {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// Creates a key file holding a new random key (hex and a newline), readable by its owner
    /// only (mode 0600 on Unix). Fails if the file exists.
    pub fn create_file(path: &Path) -> Result<Self, KeyError> {
        let key = Self::try_generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write_error = |source| KeyError::Write { path: path.to_path_buf(), source };
        let mut file = options.open(path).map_err(|source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists { path: path.to_path_buf() }
            } else {
                write_error(source)
            }
        })?;
        let mut text = Zeroizing::new(key.to_hex());
        text.push('\n');
        if let Err(source) = file.write_all(text.as_bytes()).and_then(|()| file.sync_all()) {
            drop(file);
            // A partial key file would fail later with a worse message; the error reported is
            // the write's, whether or not the removal works.
            let _ = std::fs::remove_file(path);
            return Err(write_error(source));
        }
        Ok(key)
    }

    /// The wallet of this key.
    pub fn wallet(&self) -> Wallet {
        Wallet::from_public_key(&self.public)
    }

    /// The public key in uncompressed SEC1 form: `0x04` ‖ x ‖ y.
    pub fn public_key_uncompressed(&self) -> [u8; 65] {
        self.public.serialize_uncompressed()
    }

    /// The public key.
    pub fn verifying_key(&self) -> &PublicKey {
        &self.public
    }

    /// The underlying libsecp256k1 secret key.
    pub(crate) fn secret(&self) -> &secp256k1::SecretKey {
        &self.secret
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.secret.non_secure_erase();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("wallet", &self.wallet()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    const VECTOR_WALLET: &str = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23";

    #[test]
    fn known_vector_gives_its_wallet() {
        let key = SecretKey::from_hex(&format!("0x{VECTOR_KEY}")).unwrap();
        assert_eq!(key.wallet().to_string(), VECTOR_WALLET);
        let point = key.public_key_uncompressed();
        assert_eq!(point[0], 0x04);
        assert_eq!(Wallet::from_uncompressed(&point), key.wallet());
    }

    #[test]
    fn hex_round_trips_with_whitespace_and_case() {
        let key = SecretKey::from_hex(&format!("  {}\n", VECTOR_KEY.to_uppercase())).unwrap();
        assert_eq!(key.to_hex(), VECTOR_KEY);
        let fresh = SecretKey::generate();
        assert_eq!(SecretKey::from_hex(&fresh.to_hex()).unwrap().wallet(), fresh.wallet());
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = SecretKey::from_hex(VECTOR_KEY).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains(VECTOR_WALLET), "{shown}");
        assert!(!shown.contains("4c0883"), "{shown}");
    }

    #[test]
    fn hex_errors_name_the_problem() {
        assert!(matches!(SecretKey::from_hex("abcd"), Err(KeyError::WrongLength { digits: 4 })));
        let bad = format!("{}g", &VECTOR_KEY[..63]);
        let err = SecretKey::from_hex(&bad).unwrap_err();
        assert!(matches!(err, KeyError::NotHex { position: 64 }), "{err}");
        assert!(err.to_string().contains("character 64"), "{err}");
        assert!(matches!(SecretKey::from_hex(&"0".repeat(64)), Err(KeyError::OutOfRange)));
        // n itself, the secp256k1 group order.
        let order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        assert!(matches!(SecretKey::from_hex(order), Err(KeyError::OutOfRange)));
    }

    #[test]
    fn key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.key");
        let key = SecretKey::create_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", key.to_hex()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(SecretKey::read_file(&path).unwrap().wallet(), key.wallet());
        let again = SecretKey::create_file(&path).unwrap_err();
        assert!(matches!(again, KeyError::Exists { .. }), "{again}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn key_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        let err = SecretKey::read_file(&missing).unwrap_err();
        assert!(matches!(err, KeyError::Read { .. }), "{err}");
        assert!(err.to_string().contains("missing.key"), "{err}");
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not a key\n").unwrap();
        let err = SecretKey::read_file(&bad).unwrap_err();
        assert!(matches!(err, KeyError::InvalidFile { .. }), "{err}");
        assert!(err.to_string().contains("bad.key"), "{err}");
        assert!(err.to_string().contains("not a hex digit"), "{err}");
    }
}
