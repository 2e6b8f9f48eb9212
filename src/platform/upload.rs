//! Turning an avatar or file reference into a URL the platform can serve.
//!
//! A URL is passed through; a local path (relative to the service directory,
//! never outside it) is uploaded once per content hash, with the platform's
//! S3-style presigned POST (docs/PROTOCOL.md 2.4).

use super::{http::DEFAULT_AVATAR, HttpApi, PlatformError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub struct Uploader {
    http: Arc<HttpApi>,
    /// Swappable: a new bundle version brings its own directory.
    base_dir: RwLock<PathBuf>,
    by_hash: Mutex<HashMap<[u8; 32], String>>,
}

/// True when the SDK would treat the string as a URL (a scheme anywhere in it).
pub fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://", "ftps://"]
        .iter()
        .any(|scheme| s.contains(scheme))
}

/// The URL a reference is as it stands: the default logo for nothing, a
/// URL as it is; `None` for a local file.
fn as_url(reference: &str) -> Option<String> {
    if reference.is_empty() {
        Some(DEFAULT_AVATAR.to_string())
    } else {
        is_url(reference).then(|| reference.to_string())
    }
}

fn unreadable(reference: &str, e: std::io::Error) -> PlatformError {
    PlatformError::File(format!("{reference}: cannot read: {e}"))
}

impl Uploader {
    pub fn new(http: Arc<HttpApi>, base_dir: PathBuf) -> Self {
        Uploader {
            http,
            base_dir: RwLock::new(base_dir),
            by_hash: Mutex::new(HashMap::new()),
        }
    }

    /// The service directory.
    pub fn base_dir(&self) -> PathBuf {
        match self.base_dir.read() {
            Ok(dir) => dir.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Points relative references at another directory (a swapped bundle's).
    /// The upload cache is by content, so it stays valid.
    pub fn set_base_dir(&self, dir: PathBuf) {
        match self.base_dir.write() {
            Ok(mut d) => *d = dir,
            Err(poisoned) => *poisoned.into_inner() = dir,
        }
    }

    /// Resolves `reference` inside the service directory, refusing escapes.
    pub fn local_path(&self, reference: &str) -> Result<PathBuf, PlatformError> {
        resolve_inside(&self.base_dir(), reference)
    }

    /// What a reference stands for, without uploading: the URL it becomes
    /// for a URL or nothing, `sha256:HEX` of the contents for a local file
    /// (so a re-uploaded, unchanged file is recognised as unchanged).
    pub fn identity(&self, reference: &str) -> Result<String, PlatformError> {
        let reference = reference.trim();
        if let Some(url) = as_url(reference) {
            return Ok(url);
        }
        let bytes =
            std::fs::read(self.local_path(reference)?).map_err(|e| unreadable(reference, e))?;
        let hash = Sha256::digest(&bytes);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("sha256:{hex}"))
    }

    /// Empty -> the default logo; URL -> as is; local file -> uploaded URL.
    pub async fn url_for(&self, reference: &str) -> Result<String, PlatformError> {
        let reference = reference.trim();
        if let Some(url) = as_url(reference) {
            return Ok(url);
        }
        let path = self.local_path(reference)?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| unreadable(reference, e))?;
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(url) = self.by_hash.lock().ok().and_then(|m| m.get(&hash).cloned()) {
            return Ok(url);
        }
        let extension = match reference.rfind('.') {
            Some(i) => &reference[i + 1..],
            None => reference,
        };
        let big = bytes.len() as u64 >= crate::progress::SHOW_FROM_BYTES;
        let progress = big.then(|| {
            let mib = bytes.len() as f64 / f64::from(1 << 20);
            crate::progress::Progress::spinner(&format!("uploading {reference} ({mib:.1} MiB)"))
        });
        let url = self.upload(extension, bytes).await?;
        if let Some(p) = progress {
            p.finish();
        }
        tracing::info!(file = reference, url = %crate::config::shown_url(&url), "uploaded");
        if let Ok(mut m) = self.by_hash.lock() {
            m.insert(hash, url.clone());
        }
        Ok(url)
    }

    async fn upload(&self, extension: &str, bytes: Vec<u8>) -> Result<String, PlatformError> {
        let target = self.http.upload_target(extension).await?;
        let key = target
            .fields
            .get("key")
            .and_then(|k| k.as_str())
            .ok_or_else(|| PlatformError::BadResponse {
                what: "GET /file/upload".into(),
                reason: "no fields.key".into(),
            })?
            .to_string();
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in &target.fields {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            form = form.text(name.clone(), value);
        }
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("file")
            .mime_str("application/octet-stream")
            .map_err(|e| PlatformError::File(e.to_string()))?;
        form = form.part("file", part);
        // The presigned target gets no auth headers, and its answer is not
        // checked beyond transport (as in the SDK).
        let resp = self
            .http
            .client()
            .post(&target.url)
            .multipart(form)
            .send()
            .await
            .map_err(|e| PlatformError::Transport {
                what: "upload".into(),
                source: e.without_url(),
            })?;
        if !resp.status().is_success() {
            tracing::warn!(status = %resp.status(), "upload target answered with an error status");
        }
        Ok(format!("{}{}", target.url, key))
    }
}

/// `reference` resolved against `base`, which it must not leave: no absolute
/// paths, no `..` that climbs out, no symlink that points outside.
pub fn resolve_inside(base: &Path, reference: &str) -> Result<PathBuf, PlatformError> {
    let rel = Path::new(reference);
    if rel.is_absolute() {
        return Err(PlatformError::File(format!(
            "{reference}: absolute paths are not allowed; use a path inside the service directory"
        )));
    }
    let base_real = base
        .canonicalize()
        .map_err(|e| PlatformError::File(format!("service directory {}: {e}", base.display())))?;
    let full = base_real
        .join(rel)
        .canonicalize()
        .map_err(|e| PlatformError::File(format!("{reference}: {e}")))?;
    if !full.starts_with(&base_real) {
        return Err(PlatformError::File(format!(
            "{reference}: resolves outside the service directory"
        )));
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_detection_is_a_substring_test() {
        assert!(is_url("https://x/a.png"));
        assert!(is_url(" see http://x"));
        assert!(!is_url("resources/avatar.png"));
    }

    #[test]
    fn paths_must_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("resources")).unwrap();
        std::fs::write(d.path().join("resources/a.png"), b"x").unwrap();
        assert!(resolve_inside(d.path(), "resources/a.png").is_ok());
        assert!(resolve_inside(d.path(), "resources/../resources/a.png").is_ok());
        assert!(resolve_inside(d.path(), "../etc/passwd").is_err());
        assert!(resolve_inside(d.path(), "/etc/passwd").is_err());
        assert!(resolve_inside(d.path(), "resources/missing.png").is_err());
    }
}
