//! `manifest.json`: what a bundle claims to hold. Parsing validates the
//! claim itself (safe paths, no duplicates, sane totals, a host new enough)
//! before a single content byte is read, so an oversized or malformed
//! bundle is refused from its first entry.

use super::paths::check_entry_path;
use super::{BundleError, BundleLimits, HOST_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The manifest format this host writes and reads.
pub const FORMAT: u32 = 1;
/// The manifest itself may not be larger than this.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub version: String,
    /// The entry script, e.g. `scripts/service.rhai`.
    pub entry: String,
    /// The oldest moobius-host that can run it (the packer's version).
    pub min_host_version: String,
    /// RFC 3339, UTC, from `created_unix`.
    pub created: String,
    /// Seconds since the epoch: `SOURCE_DATE_EPOCH`, else the newest packed
    /// file's mtime (never "now", so that packing is reproducible).
    pub created_unix: u64,
    /// Every file of the bundle except the manifest, sorted by path.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: u64,
}

impl Manifest {
    /// Parses and validates a manifest read from a bundle.
    pub fn parse(bytes: &[u8], limits: &BundleLimits) -> Result<Self, BundleError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| BundleError::BadManifest(e.to_string()))?;
        m.validate(limits)?;
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// The sum of the listed sizes.
    pub fn total_size(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.size))
    }

    fn validate(&self, limits: &BundleLimits) -> Result<(), BundleError> {
        let bad = |m: String| Err(BundleError::BadManifest(m));
        if self.format != FORMAT {
            return bad(format!(
                "format {} is not supported (this host reads format {FORMAT})",
                self.format
            ));
        }
        check_version(&self.min_host_version)?;
        if self.name.trim().is_empty() || self.name.chars().any(char::is_control) {
            return bad(format!("name {:?} is not a usable name", self.name));
        }
        if self.files.len() >= limits.max_entries {
            return Err(BundleError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        if self.total_size() > limits.max_unpacked_bytes {
            return Err(BundleError::TooLarge {
                limit: limits.max_unpacked_bytes,
            });
        }
        let mut seen = HashSet::new();
        let mut dirs = HashSet::new();
        for f in &self.files {
            let lower = f.path.to_lowercase();
            let mut parts: Vec<&str> = lower.split('/').collect();
            parts.pop();
            for i in 1..=parts.len() {
                dirs.insert(parts[..i].join("/"));
            }
        }
        for pair in self.files.windows(2) {
            if pair[0].path >= pair[1].path {
                return bad(format!(
                    "files are not sorted by path at {:?}",
                    pair[1].path
                ));
            }
        }
        for f in &self.files {
            let path = check_entry_path(f.path.as_bytes())?;
            if path != f.path || path == super::MANIFEST {
                return bad(format!("file path {:?} is not allowed", f.path));
            }
            let lower = f.path.to_lowercase();
            if !seen.insert(lower.clone()) {
                return Err(BundleError::Duplicate(f.path.clone()));
            }
            if dirs.contains(&lower) {
                return bad(format!("{:?} is both a file and a directory", f.path));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad(format!("{:?}: sha256 is not 64 hex digits", f.path));
            }
        }
        if self.file(&self.entry).is_none() || !self.entry.ends_with(".rhai") {
            return bad(format!(
                "the entry script {:?} is not a listed .rhai file",
                self.entry
            ));
        }
        Ok(())
    }
}

/// `1.2.3` (a `-pre` or `+build` suffix is ignored) as numbers.
fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim().split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// Refuses a bundle that needs a newer host than this one.
fn check_version(required: &str) -> Result<(), BundleError> {
    let need = parse_version(required).ok_or_else(|| {
        BundleError::BadManifest(format!("min_host_version {required:?} is not a version"))
    })?;
    let have = parse_version(HOST_VERSION).unwrap_or((0, 0, 0));
    if need > have {
        return Err(BundleError::HostTooOld {
            required: required.to_string(),
            host: HOST_VERSION.to_string(),
        });
    }
    Ok(())
}

pub(crate) use crate::clock::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("0.1.0"), Some((0, 1, 0)));
        assert_eq!(parse_version("2"), Some((2, 0, 0)));
        assert_eq!(parse_version("1.2.3-rc.1"), Some((1, 2, 3)));
        assert_eq!(parse_version("x"), None);
        assert!(check_version(HOST_VERSION).is_ok());
        assert!(matches!(
            check_version("999.0.0"),
            Err(BundleError::HostTooOld { .. })
        ));
    }
}
