//! A lone host's deploys on disk, under the service directory's `data/`:
//! `data/deploys/history.json` (the last [`HISTORY_LIMIT`] records, written
//! atomically) and each kept version's bundle, content-addressed as
//! `data/deploys/<sha256>.mbx`. A bundle is kept while a record needs it
//! (the version it brought, if promoted, or the one it would roll back
//! to) and removed with the last such record.
//!
//! [`HISTORY_LIMIT`]: crate::deploy::HISTORY_LIMIT

use crate::deploy::History;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Under the data directory.
pub const DEPLOYS_DIR: &str = "deploys";
const HISTORY_FILE: &str = "history.json";
const BUNDLE_EXT: &str = "mbx";

/// `data/deploys/`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DEPLOYS_DIR)
}

/// Where the bundle with this SHA-256 is kept.
pub fn bundle_path(data_dir: &Path, sha256: &str) -> PathBuf {
    dir(data_dir).join(format!("{sha256}.{BUNDLE_EXT}"))
}

/// The history; empty when there is none yet. A history that cannot be
/// read is an error (the caller says what it does instead).
pub fn load(data_dir: &Path) -> Result<History, crate::Reason> {
    let path = dir(data_dir).join(HISTORY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the history atomically, then removes the bundles no record
/// needs any more.
pub fn save(data_dir: &Path, history: &History) -> std::io::Result<()> {
    let d = dir(data_dir);
    std::fs::create_dir_all(&d)?;
    let bytes = serde_json::to_vec_pretty(history).map_err(std::io::Error::other)?;
    crate::fsutil::replace_file(&d.join(HISTORY_FILE), &bytes, 0o600)?;
    prune(data_dir, history);
    Ok(())
}

/// Keeps `bytes` as a content-addressed bundle; its SHA-256 (hex) and path.
pub fn keep_bundle(data_dir: &Path, bytes: &[u8]) -> std::io::Result<(String, PathBuf)> {
    let sha = hex::encode(Sha256::digest(bytes));
    let path = bundle_path(data_dir, &sha);
    if !path.exists() {
        std::fs::create_dir_all(dir(data_dir))?;
        crate::fsutil::replace_file(&path, bytes, 0o600)?;
    }
    Ok((sha, path))
}

/// Removes the bundles no record needs ([`History::needed_bundles`]).
fn prune(data_dir: &Path, history: &History) {
    let keep = history.needed_bundles();
    let Ok(entries) = std::fs::read_dir(dir(data_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_bundle = path.extension().is_some_and(|e| e == BUNDLE_EXT);
        let sha = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if is_bundle && !keep.contains(sha) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove an old deploy's bundle");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{DeployKind, DeployRecord, Outcome, VersionTag, HISTORY_LIMIT};

    fn record(i: usize, sha: &str, outcome: Outcome, previous: &str) -> DeployRecord {
        DeployRecord {
            id: format!("d{i}"),
            kind: DeployKind::Deploy,
            name: "zero".into(),
            version: format!("1.{i}"),
            sha256: sha.into(),
            signer: None,
            started_ms: 0,
            finished_ms: Some(1),
            outcome: Some(outcome),
            canary_pct: None,
            reason: None,
            veto: None,
            previous: VersionTag {
                deploy_id: "p".into(),
                version: "p".into(),
                sha256: previous.into(),
            },
        }
    }

    #[test]
    fn bundles_are_pruned_with_the_history() {
        let data = tempfile::tempdir().unwrap();
        let (a, a_path) = keep_bundle(data.path(), b"version a").unwrap();
        let (b, b_path) = keep_bundle(data.path(), b"version b").unwrap();
        let (c, c_path) = keep_bundle(data.path(), b"version c").unwrap();
        let mut h = History::default();
        h.put(record(0, &a, Outcome::Promoted, ""));
        h.put(record(1, &b, Outcome::Promoted, &a));
        h.put(record(2, &c, Outcome::Vetoed, &b));
        save(data.path(), &h).unwrap();
        // The vetoed one's bundle is not needed; a's is (b rolls back to it).
        assert!(a_path.exists() && b_path.exists() && !c_path.exists());
        assert_eq!(load(data.path()).unwrap(), h);
        for i in 3..3 + HISTORY_LIMIT {
            h.put(record(i, &b, Outcome::Promoted, &b));
        }
        save(data.path(), &h).unwrap();
        assert!(
            !a_path.exists(),
            "a fell out of the history with its records"
        );
        assert!(b_path.exists());
        assert_eq!(load(data.path()).unwrap().records.len(), HISTORY_LIMIT);
    }

    #[test]
    fn no_history_is_an_empty_one_and_a_broken_one_an_error() {
        let data = tempfile::tempdir().unwrap();
        assert_eq!(load(data.path()).unwrap(), History::default());
        std::fs::create_dir_all(dir(data.path())).unwrap();
        std::fs::write(dir(data.path()).join(HISTORY_FILE), "{").unwrap();
        assert!(load(data.path()).unwrap_err().contains("history.json"));
    }
}
