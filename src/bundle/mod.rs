//! Script bundles: a service as one verifiable file (`.mbx`).
//!
//! A bundle is a plain gzip-compressed tar archive (`tar tzf my.mbx` lists
//! it) whose first entry is `manifest.json`: name, version, entry script,
//! minimum host version, creation time and the SHA-256 and size of every
//! other file. Everything after the manifest is checked against it.
//!
//! Bundles are hostile input: they come from elsewhere and are unpacked on a
//! server. So reading is one streaming pass that validates each entry
//! *before* anything is written (path, type, duplicate, manifest membership,
//! size, hash), counts bytes while decompressing (size and ratio limits stop
//! a bomb early), and writes only regular files, only inside a fresh private
//! directory. Packing is reproducible (fixed order, mtimes and owners) and
//! never includes credentials: `config/` goes in only as a template with
//! `account_config`, credential keys and URL user-info removed.
//!
//! A bundle may be signed (`keys`, `sign`): an Ed25519 signature over the
//! manifest, in the gzip header, checked before the manifest is parsed; a
//! host with trusted keys refuses an unsigned bundle or another key's.

mod collect;
mod keys;
mod manifest;
mod pack;
mod paths;
mod read;
mod scrub;
mod sign;
mod unpack;
mod verify;

pub use collect::MetaOverrides;
pub use keys::{pair_paths, KeyError, KeyId, PublicKey, SecretKey, PUBLIC_PREFIX};
pub use manifest::{FileEntry, Manifest, FORMAT};
pub use pack::{pack, pack_with_report, Packed};
pub use read::{inspect, Entry, Inspection};
pub use scrub::Stripped;
pub use sign::{SignatureInfo, TrustedKeys, CONTEXT};
pub use unpack::{unpack, unpack_in, Unpacked};
pub use verify::{verify, Verified};

use crate::script::Diagnostic;
use std::path::PathBuf;

/// The manifest's name inside the archive (always the first entry).
pub const MANIFEST: &str = "manifest.json";
/// The entry script, relative to the bundle root.
pub const ENTRY: &str = "scripts/service.rhai";

/// What a bundle may cost to read. The defaults suit any real service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Archive entries (files, directories, anything).
    pub max_entries: usize,
    /// Bytes of file content once unpacked.
    pub max_unpacked_bytes: u64,
    /// Decompressed bytes per compressed byte (zip-bomb guard); checked once
    /// more than [`RATIO_FLOOR`] bytes came out, so tiny bundles are never
    /// refused for compressing well.
    pub max_ratio: u64,
}

/// The default of [`BundleLimits::max_unpacked_bytes`]: 64 MiB, far above
/// any real service's scripts and resources.
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 64 << 20;

/// Below this much output the ratio is not checked (see [`BundleLimits`]).
pub const RATIO_FLOOR: u64 = 1 << 20;

impl Default for BundleLimits {
    fn default() -> Self {
        BundleLimits {
            max_entries: 10_000,
            max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
            max_ratio: 100,
        }
    }
}

/// Everything that can be wrong with a bundle or with packing one. Each
/// message names the problem and, where there is one, the entry.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a valid bundle (gzip-compressed tar): {0}")]
    Corrupt(String),
    #[error("not a valid bundle: {0} follow the end of its gzip stream (a bundle is exactly one gzip stream)")]
    TrailingData(String),
    #[error("entry {path:?} refused: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    #[error("entry {path:?} refused: it is a {kind}; bundles hold regular files only")]
    NotRegularFile { path: String, kind: String },
    #[error("entry {0:?} refused: it appears twice in the archive")]
    Duplicate(String),
    #[error("{MANIFEST} must be the first entry of a bundle (found {0:?} first)")]
    ManifestNotFirst(String),
    #[error("bad {MANIFEST}: {0}")]
    BadManifest(String),
    #[error("entry {0:?} refused: it is not listed in {MANIFEST}")]
    NotInManifest(String),
    #[error("{0:?} is listed in {MANIFEST} but missing from the archive")]
    MissingFromArchive(String),
    #[error("entry {path:?} refused: SHA-256 {actual} does not match {MANIFEST} ({expected})")]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("entry {path:?} refused: {actual} bytes, {MANIFEST} says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("more than {limit} bytes unpacked")]
    TooLarge { limit: u64 },
    #[error("decompression ratio beyond {limit}:1 (a compression bomb?)")]
    RatioExceeded { limit: u64 },
    #[error("needs moobius-host {required} or newer (this is {host})")]
    HostTooOld { required: String, host: String },
    #[error("{0}")]
    Script(#[from] Diagnostic),
    #[error("cannot pack: {0}")]
    Pack(String),
    #[error("refused: the bundle is not signed, and only bundles signed by a trusted key are accepted (trusted: {trusted})")]
    Unsigned { trusted: String },
    #[error("refused: signed by key {key}, which is not trusted (trusted: {trusted})")]
    UntrustedSigner { key: KeyId, trusted: String },
    #[error("refused: the signature by key {0} does not match {MANIFEST} (changed after signing, or a damaged signature)")]
    SignatureMismatch(KeyId),
    #[error("refused: bad signature: {0}")]
    BadSignature(String),
    #[error("{0}")]
    Key(#[from] KeyError),
}

impl BundleError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BundleError::Io {
            path: path.into(),
            source,
        }
    }

    /// 1 when the file could not be read or written, 2 for a bad bundle (or
    /// a service directory that cannot be packed).
    pub fn exit_code(&self) -> i32 {
        match self {
            BundleError::Io { .. } | BundleError::Key(KeyError::Io { .. }) => 1,
            _ => 2,
        }
    }
}

/// This crate's version: the host version bundles are checked against.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");
