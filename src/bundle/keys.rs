//! Signing keys for bundles: Ed25519 key pairs kept as small text files.
//!
//! `bundle keygen NAME` writes `NAME.key` (the secret, created `0600`, never
//! made private after the fact) and `NAME.pub`. Each is a comment line and
//! one key line whose prefix says what it holds:
//!
//! ```text
//! # moobius-host bundle signing public key 3f1c0a9e2b7d4c65
//! ed25519:<base64 of the 32-byte public key>
//!
//! # moobius-host bundle signing SECRET key 3f1c0a9e2b7d4c65: keep it private
//! ed25519-secret:<base64 of the 32-byte seed>
//! ```
//!
//! The prefix is what lets a secret key given where a public one belongs be
//! refused without its value being echoed, and lets `bundle pack` recognise
//! a secret key file wherever it lies in a service directory. The key id,
//! the first 8 bytes of the public key's SHA-256 in hex, is what messages,
//! `inspect` and `verify` name.

use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The prefix of a public key line (and of a `trusted_keys` entry).
pub const PUBLIC_PREFIX: &str = "ed25519:";
/// The prefix of a secret key line.
pub const SECRET_PREFIX: &str = "ed25519-secret:";

/// Key files are a few lines; anything longer is not one.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// What can be wrong with a key or a key file. No message holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} exists; give --force to replace it (a replaced secret key is lost)")]
    Exists(PathBuf),
}

/// The short name of a public key: the first 8 bytes of its SHA-256, in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A public key: what a host trusts and a signature names.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

impl PublicKey {
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::Invalid("not an Ed25519 public key".into()))?;
        if key.is_weak() {
            return Err(KeyError::Invalid(
                "a weak (small-order) Ed25519 public key".into(),
            ));
        }
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Ok(PublicKey { key, id: KeyId(id) })
    }

    /// A public key from its key line (`ed25519:...`) or a whole `.pub`
    /// file's text (comment lines start with `#`).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let line = key_line(text)?;
        if line.starts_with(SECRET_PREFIX) {
            return Err(KeyError::Invalid(
                "this is a SECRET key; give the public key (the .pub file's line)".into(),
            ));
        }
        let Some(b64) = line.strip_prefix(PUBLIC_PREFIX) else {
            return Err(KeyError::Invalid(format!(
                "not a public key (expected a line \"{PUBLIC_PREFIX}...\", as `bundle keygen` writes in NAME.pub)"
            )));
        };
        let bytes = decode32(b64).ok_or_else(|| {
            KeyError::Invalid(format!(
                "{PUBLIC_PREFIX} is not followed by the base64 of 32 bytes"
            ))
        })?;
        Self::from_bytes(&bytes)
    }

    /// Reads a `.pub` file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = read_key_file(path)?;
        Self::parse(&text).map_err(|e| in_file(path, e))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key line, `ed25519:<base64>`.
    pub fn to_line(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", b64().encode(self.key.as_bytes()))
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// A secret signing key. Its `Debug` shows the key id only, and the key is
/// wiped from memory when dropped.
pub struct SecretKey {
    key: SigningKey,
    public: PublicKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public.id)
    }
}

impl SecretKey {
    fn from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::from_bytes(key.verifying_key().as_bytes())?;
        Ok(SecretKey { key, public })
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        use rand::TryRngCore;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|e| KeyError::Invalid(format!("no random numbers from the system: {e}")))?;
        Self::from_seed(&seed)
    }

    /// Reads a `.key` file. Errors name the file, never its content.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = Zeroizing::new(read_key_file(path)?);
        let parsed = key_line(&text).and_then(|line| {
            let Some(b64) = line.strip_prefix(SECRET_PREFIX) else {
                return Err(KeyError::Invalid(format!(
                    "not a secret key (expected a line \"{SECRET_PREFIX}...\", as `bundle keygen` writes in NAME.key)"
                )));
            };
            let seed = Zeroizing::new(decode32(b64).ok_or_else(|| {
                KeyError::Invalid(format!(
                    "{SECRET_PREFIX} is not followed by the base64 of 32 bytes"
                ))
            })?);
            Self::from_seed(&seed)
        });
        parsed.map_err(|e| in_file(path, e))
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Writes `NAME.key` (0600 from its creation) and `NAME.pub` beside it,
    /// each through a temp file renamed into place. Without `force`, an
    /// existing file of either name is an error and nothing is written.
    /// Returns the two paths.
    pub fn write_pair(&self, name: &Path, force: bool) -> Result<(PathBuf, PathBuf), KeyError> {
        let (secret_path, public_path) = pair_paths(name);
        if !force {
            for p in [&secret_path, &public_path] {
                if std::fs::symlink_metadata(p).is_ok() {
                    return Err(KeyError::Exists(p.clone()));
                }
            }
        }
        let id = self.public.id;
        let seed = Zeroizing::new(self.key.to_bytes());
        let secret = Zeroizing::new(format!(
            "# moobius-host bundle signing SECRET key {id}: keep it private; never pack, commit or share it\n{SECRET_PREFIX}{}\n",
            b64().encode(seed.as_slice())
        ));
        let public = format!(
            "# moobius-host bundle signing public key {id}\n{}\n",
            self.public.to_line()
        );
        write_new(&secret_path, secret.as_bytes(), 0o600, force)?;
        write_new(&public_path, public.as_bytes(), 0o644, force)?;
        Ok((secret_path, public_path))
    }
}

/// `NAME.key` and `NAME.pub` (a `.key` or `.pub` ending of NAME is dropped).
pub fn pair_paths(name: &Path) -> (PathBuf, PathBuf) {
    let stem = match name.extension().and_then(|e| e.to_str()) {
        Some("key" | "pub") => name.with_extension(""),
        _ => name.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut s = stem.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    (with(".key"), with(".pub"))
}

/// Whether `bytes` hold a bundle signing secret key line (whatever the
/// file is called): such a file must never go into a bundle.
pub(crate) fn holds_secret_key(bytes: &[u8]) -> bool {
    bytes.split(|b| *b == b'\n').any(|line| {
        line.strip_prefix(SECRET_PREFIX.as_bytes())
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(decode32)
            .is_some()
    })
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn decode32(b64_text: &str) -> Option<[u8; 32]> {
    let bytes = Zeroizing::new(b64().decode(b64_text.trim()).ok()?);
    bytes.as_slice().try_into().ok()
}

/// The one line of `text` that is not blank and not a `#` comment.
fn key_line(text: &str) -> Result<&str, KeyError> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    match (lines.next(), lines.next()) {
        (Some(line), None) => Ok(line),
        (None, _) => Err(KeyError::Invalid("no key line".into())),
        (Some(_), Some(_)) => Err(KeyError::Invalid(
            "more than one key line (a key file holds one key)".into(),
        )),
    }
}

fn in_file(path: &Path, e: KeyError) -> KeyError {
    match e {
        KeyError::Invalid(why) => KeyError::Invalid(format!("{}: {why}", path.display())),
        other => other,
    }
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::Invalid(format!(
            "{}: not a key file (a regular file of at most {MAX_KEY_FILE_BYTES} bytes)",
            path.display()
        )));
    }
    crate::fsutil::read_regular(path).map_err(io)
}

/// Writes `bytes` to `path` through a temp file that has `mode` from its
/// creation; replaces an existing file only when `force`.
fn write_new(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Created 0600 (owner only); a public key is then opened up before a
    // byte is written, a secret one never is.
    let mut tmp = crate::fsutil::temp_beside(path).map_err(io)?;
    #[cfg(unix)]
    if mode != 0o600 {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    let persisted = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(KeyError::Exists(path.to_path_buf()))
        }
        Err(e) => Err(io(e.error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_round_trip_and_secrets_are_told_apart() {
        let secret = SecretKey::from_seed(&[7u8; 32]).unwrap();
        let line = secret.public().to_line();
        let parsed = PublicKey::parse(&format!("# comment\n{line}\n")).unwrap();
        assert_eq!(parsed, *secret.public());
        assert_eq!(parsed.id().to_string().len(), 16);
        let secret_line = format!("{SECRET_PREFIX}{}", b64().encode([7u8; 32]));
        let err = PublicKey::parse(&secret_line).unwrap_err().to_string();
        assert!(err.contains("SECRET"), "{err}");
        assert!(!err.contains(&secret_line[SECRET_PREFIX.len()..]), "{err}");
        assert!(holds_secret_key(format!("x\n{secret_line}\n").as_bytes()));
        assert!(!holds_secret_key(line.as_bytes()));
        assert!(!holds_secret_key(b"ed25519-secret: is how they start"));
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(PublicKey::parse(&format!("{line}\n{line}")).is_err());
        assert!(format!("{secret:?}").starts_with("SecretKey("));
    }

    #[test]
    fn pair_paths_drop_a_key_ending() {
        let (k, p) = pair_paths(Path::new("dir/release.key"));
        assert_eq!(k, Path::new("dir/release.key"));
        assert_eq!(p, Path::new("dir/release.pub"));
        let (k, _) = pair_paths(Path::new("release.v2"));
        assert_eq!(k, Path::new("release.v2.key"));
    }
}
