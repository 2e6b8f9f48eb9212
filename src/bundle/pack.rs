//! Packing a service directory into a bundle, reproducibly and without
//! secrets.
//!
//! Credentials are taken out of the config template (see `scrub`) and
//! reported by key path, so the packer knows what a deployment must supply.
//!
//! The same tree always gives the same bytes: files in sorted order, every
//! header with the same mtime (`SOURCE_DATE_EPOCH`, else the newest packed
//! file's), owner 0, mode 0644, and a gzip header without a timestamp. The
//! scripts are compiled first, so a bundle that packs is one that runs.
//!
//! With a secret key the manifest is signed and the signature goes into the
//! gzip header (see `sign`); Ed25519 signatures are deterministic, so a
//! signed bundle is reproducible too. A file holding a signing secret key or
//! a PEM private key refuses the packing: no secret goes into a bundle.

use super::collect::{collect, Collection, MetaOverrides, Source};
use super::manifest::rfc3339;
use super::scrub::Stripped;
use super::sign::SignatureBlock;
use super::verify::compile_scripts;
use super::{
    BundleError, BundleLimits, FileEntry, KeyId, Manifest, SecretKey, ENTRY, FORMAT, HOST_VERSION,
    MANIFEST,
};
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// A packed bundle's manifest, and what was kept out of its config template.
#[derive(Debug, Clone)]
pub struct Packed {
    pub manifest: Manifest,
    /// Per config file, the credential keys and URL user-info removed
    /// (paths only, never values); empty when there was nothing to remove.
    pub stripped: Vec<Stripped>,
    /// The key that signed it; `None`: unsigned.
    pub signer: Option<KeyId>,
}

/// Packs `dir` into `out` (written atomically) and returns the manifest.
/// `version` overrides the one in `dir/bundle.toml` or `dir/manifest.json`.
pub fn pack(dir: &Path, out: &Path, version: Option<&str>) -> Result<Manifest, BundleError> {
    let given = MetaOverrides {
        name: None,
        version,
    };
    pack_with_report(dir, out, given, None).map(|p| p.manifest)
}

/// As [`pack`], with the name and version the command line gives, signed
/// with `sign` when given, also saying what was stripped from the config
/// template.
pub fn pack_with_report(
    dir: &Path,
    out: &Path,
    given: MetaOverrides<'_>,
    sign: Option<&SecretKey>,
) -> Result<Packed, BundleError> {
    let Collection { files, stripped } = collect(dir)?;
    if !files.iter().any(|f| f.path == ENTRY) {
        return Err(BundleError::Pack(format!(
            "{}: no entry script {ENTRY}",
            dir.display()
        )));
    }
    compile_scripts(dir, ENTRY, files.iter().map(|f| f.path.as_str()))?;
    let limits = BundleLimits::default();
    if files.len() >= limits.max_entries {
        return Err(BundleError::Pack(format!(
            "{} files; a bundle holds at most {}",
            files.len(),
            limits.max_entries - 1
        )));
    }
    let meta = super::collect::metadata(dir, given)?;
    let created_unix = match source_date_epoch() {
        Some(t) => t,
        None => files.iter().filter_map(|f| f.mtime).max().unwrap_or(0),
    };
    let mut contents = Vec::with_capacity(files.len());
    let mut entries = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for f in &files {
        let bytes = match &f.source {
            Source::Disk(p) => std::fs::read(p).map_err(|e| BundleError::io(p, e))?,
            Source::Bytes(b) => b.clone(),
        };
        refuse_secret(&f.path, &bytes)?;
        total = total.saturating_add(bytes.len() as u64);
        entries.push(FileEntry {
            path: f.path.clone(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
        });
        contents.push(bytes);
    }
    if total > limits.max_unpacked_bytes {
        return Err(BundleError::Pack(format!(
            "{total} bytes of files; a bundle holds at most {}",
            limits.max_unpacked_bytes
        )));
    }
    let manifest = Manifest {
        format: FORMAT,
        name: meta.name,
        version: meta.version,
        entry: ENTRY.to_string(),
        min_host_version: HOST_VERSION.to_string(),
        created: rfc3339(created_unix),
        created_unix,
        files: entries,
    };
    let json = manifest.to_json();
    let signature = sign.map(|key| SignatureBlock::sign(key, json.as_bytes()));
    let mut archive: Vec<(&str, &[u8])> = vec![(MANIFEST, json.as_bytes())];
    for (entry, bytes) in manifest.files.iter().zip(&contents) {
        archive.push((&entry.path, bytes));
    }
    let extra = signature.as_ref().map(SignatureBlock::to_gzip_extra);
    write_archive(out, &archive, created_unix, extra)?;
    Ok(Packed {
        manifest,
        stripped,
        signer: signature.map(|s| s.key_id()),
    })
}

/// Refuses a file that holds a secret key: a bundle signing key (whatever
/// its name) or a PEM private key (`-----BEGIN ... PRIVATE KEY-----`).
fn refuse_secret(path: &str, bytes: &[u8]) -> Result<(), BundleError> {
    let pem = bytes.split(|b| *b == b'\n').any(|line| {
        let line = line.trim_ascii();
        line.starts_with(b"-----BEGIN ") && line.ends_with(b"PRIVATE KEY-----")
    });
    let what = if super::keys::holds_secret_key(bytes) {
        "a bundle signing secret key"
    } else if pem {
        "a private key"
    } else {
        return Ok(());
    };
    Err(BundleError::Pack(format!(
        "{path} holds {what}; a secret never goes into a bundle: move it out of the service directory"
    )))
}

fn source_date_epoch() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

/// Writes the tar.gz next to `out`, then renames it over `out`
/// ([`crate::fsutil::replace_with`]).
/// `extra` is the gzip header's extra field (the signature).
fn write_archive(
    out: &Path,
    entries: &[(&str, &[u8])],
    mtime: u64,
    extra: Option<Vec<u8>>,
) -> Result<(), BundleError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |e| BundleError::io(out, e);
    let tmp = tempfile::Builder::new()
        .prefix(".moobius-pack-")
        .tempfile_in(parent)
        .map_err(io)?;
    let mut builder = GzBuilder::new().mtime(0);
    if let Some(extra) = extra {
        builder = builder.extra(extra);
    }
    let gz = builder.write(tmp.as_file(), Compression::best());
    let mut tar = tar::Builder::new(gz);
    let total = entries.iter().map(|(_, b)| b.len() as u64).sum();
    let progress = crate::progress::Progress::bytes(&format!("packing {}", out.display()), total);
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        tar.append_data(&mut header, path, progress.reader(*bytes))
            .map_err(io)?;
    }
    progress.finish();
    let gz = tar.into_inner().map_err(io)?;
    let mut file = gz.finish().map_err(io)?;
    file.flush().map_err(io)?;
    // A bundle replacing a file keeps that file's mode and owner; a new one is 0644.
    crate::fsutil::replace_with(tmp, out, 0o644).map_err(io)?;
    Ok(())
}
