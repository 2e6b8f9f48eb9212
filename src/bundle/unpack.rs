//! Unpacking into a private directory, validating each entry before a byte
//! of it is written.
//!
//! The manifest comes first and is validated as a whole; every later entry
//! must be a regular file with a safe name, listed once, of the listed size
//! and hash. Its content is read into memory (bounded by the listed size)
//! and hashed, and only then written, with `create_new`, under a fresh
//! `0700` directory. A failure anywhere drops that directory, so a refused
//! bundle leaves nothing behind. After the last entry the rest of the gzip
//! stream is read, so a damaged trailer or bytes after the stream refuse the
//! bundle too.

use super::paths::check_entry_path;
use super::read::{kind_name, read_manifest_bytes, Reader};
use super::{BundleError, BundleLimits, KeyId, Manifest, TrustedKeys, MANIFEST};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A verified bundle's files in a private temporary directory, deleted when
/// this is dropped.
#[derive(Debug)]
pub struct Unpacked {
    pub dir: tempfile::TempDir,
    pub manifest: Manifest,
    /// Who signed the manifest (the signature checked); `None`: unsigned.
    pub signer: Option<KeyId>,
}

impl Unpacked {
    /// The bundle's root (holds `scripts/`, `resources/`, ...).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The entry script's path on disk.
    pub fn entry(&self) -> PathBuf {
        self.dir.path().join(&self.manifest.entry)
    }
}

/// Unpacks into a new private directory under the system's temp directory
/// (`TMPDIR`). With `trust` not empty, only a bundle signed by one of its
/// keys is accepted; a signature is checked whenever there is one.
pub fn unpack(
    file: &Path,
    limits: &BundleLimits,
    trust: &TrustedKeys,
) -> Result<Unpacked, BundleError> {
    unpack_in(file, limits, trust, &std::env::temp_dir())
}

/// Unpacks into a new private directory under `parent`.
pub fn unpack_in(
    file: &Path,
    limits: &BundleLimits,
    trust: &TrustedKeys,
    parent: &Path,
) -> Result<Unpacked, BundleError> {
    let dir = tempfile::Builder::new()
        .prefix(".moobius-bundle-")
        .tempdir_in(parent)
        .map_err(|e| BundleError::io(parent, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| BundleError::io(dir.path(), e))?;
    }
    let (manifest, signer) = extract(file, limits, trust, dir.path())?;
    Ok(Unpacked {
        dir,
        manifest,
        signer,
    })
}

fn extract(
    file: &Path,
    limits: &BundleLimits,
    trust: &TrustedKeys,
    root: &Path,
) -> Result<(Manifest, Option<KeyId>), BundleError> {
    let mut reader = Reader::open(file, limits)?;
    let signature = reader.signature.take();
    let mut signer = None;
    let mut manifest: Option<Manifest> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut written: HashSet<String> = HashSet::new();
    reader.for_each(|entry, meter| {
        let path = check_entry_path(&entry.path_bytes())?;
        let ty = entry.header().entry_type();
        let Some(m) = &manifest else {
            if path != MANIFEST {
                return Err(BundleError::ManifestNotFirst(path));
            }
            let bytes = read_manifest_bytes(entry, meter)?;
            signer = trust.check(signature.as_ref(), &bytes)?;
            manifest = Some(Manifest::parse(&bytes, limits)?);
            seen.insert(MANIFEST.to_lowercase());
            return Ok(());
        };
        // Case-insensitive: the bundle may be unpacked on such a file system.
        if !seen.insert(path.to_lowercase()) {
            return Err(BundleError::Duplicate(path));
        }
        if ty.is_dir() {
            // Directories are created as files need them; nothing to write.
            return Ok(());
        }
        if !(ty == tar::EntryType::Regular || ty == tar::EntryType::Continuous) {
            return Err(BundleError::NotRegularFile {
                path,
                kind: kind_name(ty),
            });
        }
        let listed = m
            .file(&path)
            .ok_or_else(|| BundleError::NotInManifest(path.clone()))?;
        if entry.size() != listed.size {
            return Err(BundleError::SizeMismatch {
                path,
                expected: listed.size,
                actual: entry.size(),
            });
        }
        let mut content = Vec::new();
        entry
            .take(listed.size.saturating_add(1))
            .read_to_end(&mut content)
            .map_err(|e| meter.error(e))?;
        if content.len() as u64 != listed.size {
            return Err(BundleError::SizeMismatch {
                path,
                expected: listed.size,
                actual: content.len() as u64,
            });
        }
        let actual = hex::encode(Sha256::digest(&content));
        if actual != listed.sha256.to_ascii_lowercase() {
            return Err(BundleError::HashMismatch {
                path,
                expected: listed.sha256.clone(),
                actual,
            });
        }
        write_private(root, &path, &content)?;
        written.insert(path);
        Ok(())
    })?;
    reader.finish()?;
    let manifest =
        manifest.ok_or_else(|| BundleError::BadManifest("the archive is empty".into()))?;
    if let Some(missing) = manifest.files.iter().find(|f| !written.contains(&f.path)) {
        return Err(BundleError::MissingFromArchive(missing.path.clone()));
    }
    Ok((manifest, signer))
}

/// Writes one validated file under `root`. The path has only normal
/// components and the tree holds only what this function made, so nothing
/// here can follow a link out of `root`.
fn write_private(root: &Path, rel: &str, content: &[u8]) -> Result<(), BundleError> {
    let target = root.join(rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BundleError::io(parent, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&target)
        .map_err(|e| BundleError::io(&target, e))?;
    f.write_all(content)
        .map_err(|e| BundleError::io(&target, e))
}
