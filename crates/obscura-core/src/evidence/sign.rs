//! Ed25519 keys and signatures for the audit trail's head and export
//! manifests.
//!
//! Keys are kept as lowercase hex text, one key per file: the secret file
//! holds the 32-byte seed (64 hex digits), the public file the 32-byte
//! public key. Signatures are 64 bytes, written as 128 hex digits. A key
//! pair is made with [`SecretKey::generate`] (`obscura audit keygen`).
//!
//! What is signed is always prefixed by a domain string (for example
//! `obscura.audit-head/1`), so a signature over one kind of message cannot
//! be presented as another.

use crate::error::{Error, ErrorKind, Result};
use crate::output::PendingFile;
use ed25519_dalek::{Signer, Verifier};
use std::path::Path;

/// An Ed25519 signing key. Its `Debug` shows only the public half.
pub struct SecretKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("public", &self.public_key().to_hex())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

fn hex32(text: &str, what: &str) -> Result<[u8; 32]> {
    let t = text.trim();
    let bytes =
        hex::decode(t).map_err(|_| invalid(format!("invalid {what} (expected 64 hex digits)")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| invalid(format!("invalid {what} (expected 64 hex digits)")))
}

fn read_key_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(e, "cannot read key").with_path(path))
}

impl SecretKey {
    /// A new random key from the operating system's generator.
    ///
    /// # Errors
    /// `Io` if the system has no source of randomness.
    pub fn generate() -> Result<SecretKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::new(ErrorKind::Io, format!("no random numbers: {e}")))?;
        Ok(SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The key from its 64 hex digits.
    ///
    /// # Errors
    /// `InvalidArgument` if the text is not 64 hex digits.
    pub fn from_hex(text: &str) -> Result<SecretKey> {
        Ok(SecretKey(ed25519_dalek::SigningKey::from_bytes(&hex32(
            text,
            "secret key",
        )?)))
    }

    /// Reads a secret key file.
    ///
    /// # Errors
    /// `NotFound`/`Io` if it cannot be read, `InvalidArgument` if it does
    /// not hold a key.
    pub fn load(path: &Path) -> Result<SecretKey> {
        SecretKey::from_hex(&read_key_file(path)?).map_err(|e| e.with_path(path))
    }

    /// The seed as 64 hex digits (keep it secret).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// Writes the key to `path` (readable by its owner only, on Unix) and
    /// the public key to `public`. Existing files are never overwritten.
    ///
    /// # Errors
    /// `InvalidArgument` if either file exists; `Io` if they cannot be
    /// written.
    pub fn write(&self, path: &Path, public: &Path) -> Result<()> {
        for p in [path, public] {
            if p.exists() {
                return Err(invalid("already exists (keys are never overwritten)").with_path(p));
            }
        }
        let secret = PendingFile::new(path, &[])?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(secret.tmp_path(), std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(e, "cannot restrict key file").with_path(path))?;
        }
        std::fs::write(secret.tmp_path(), format!("{}\n", self.to_hex()))
            .map_err(|e| Error::io(e, "cannot write key").with_path(path))?;
        let pubf = PendingFile::new(public, &[])?;
        std::fs::write(pubf.tmp_path(), format!("{}\n", self.public_key().to_hex()))
            .map_err(|e| Error::io(e, "cannot write key").with_path(public))?;
        // Both or neither.
        PendingFile::commit_all(vec![secret, pubf])?;
        Ok(())
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message`; the signature as 128 hex digits.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).to_bytes())
    }
}

impl PublicKey {
    /// The key from its 64 hex digits.
    ///
    /// # Errors
    /// `InvalidArgument` if the text is not a valid Ed25519 public key.
    pub fn from_hex(text: &str) -> Result<PublicKey> {
        let bytes = hex32(text, "public key")?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| invalid("invalid public key (not an Ed25519 point)"))
    }

    /// A public key given on the command line: 64 hex digits, or a file
    /// holding them.
    ///
    /// # Errors
    /// As [`PublicKey::from_hex`], or the file's read error.
    pub fn from_arg(arg: &str) -> Result<PublicKey> {
        let t = arg.trim();
        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return PublicKey::from_hex(t);
        }
        let path = Path::new(arg);
        PublicKey::from_hex(&read_key_file(path)?).map_err(|e| e.with_path(path))
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// Whether `signature` (hex) is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature.trim()) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        self.0.verify(message, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_wrong_key() {
        let a = SecretKey::generate().expect("key");
        let b = SecretKey::generate().expect("key");
        let sig = a.sign(b"message");
        assert!(a.public_key().verify(b"message", &sig));
        assert!(!a.public_key().verify(b"messagE", &sig));
        assert!(!b.public_key().verify(b"message", &sig));
        assert!(!a.public_key().verify(b"message", "zz"));
        let again = SecretKey::from_hex(&a.to_hex()).expect("round trip");
        assert_eq!(again.public_key(), a.public_key());
        assert_eq!(
            PublicKey::from_arg(&a.public_key().to_hex()).expect("hex"),
            a.public_key()
        );
        assert!(PublicKey::from_hex("12").is_err());
    }
}
