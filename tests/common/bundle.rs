//! Bundle helpers: the tar inside a bundle, tampering with it, and the
//! binary's bundle commands with a chosen TMPDIR.

use flate2::read::GzDecoder;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary with `TMPDIR` set to `tmp`.
pub fn cli(args: &[&str], tmp: &Path) -> std::process::Output {
    Command::new(super::binary())
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .unwrap()
}

/// The tar inside a bundle.
pub fn untar(bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bundle).read_to_end(&mut out).unwrap();
    out
}

/// `tar` gzipped again with `original`'s gzip header extra field, where a
/// signed bundle keeps its signature: tampering keeps the signature.
pub fn regzip_like(original: &[u8], tar: &[u8]) -> Vec<u8> {
    let extra = GzDecoder::new(original)
        .header()
        .and_then(|h| h.extra().map(<[u8]>::to_vec));
    let mut builder = flate2::GzBuilder::new();
    if let Some(extra) = extra {
        builder = builder.extra(extra);
    }
    let mut gz = builder.write(Vec::new(), flate2::Compression::default());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// The bundle with one byte of its entry script flipped (the manifest and
/// any signature untouched).
pub fn tampered(bundle: &[u8]) -> Vec<u8> {
    let mut tar = untar(bundle);
    let at = tar
        .windows(4)
        .position(|w| w == b"Meow")
        .expect("the script is in the archive");
    tar[at + 3] ^= 0x01;
    regzip_like(bundle, &tar)
}

/// What is in `tmp` (private unpack directories).
pub fn unpack_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The bundle with its entry script replaced and the manifest updated to
/// match: a well-formed bundle whose script may not compile (a signature
/// is kept as it was, so it no longer matches the manifest).
pub fn with_script(bundle: &[u8], script: &str) -> Vec<u8> {
    use sha2::Digest;
    let tar_bytes = untar(bundle);
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        entries.push((path, data));
    }
    let mut manifest: serde_json::Value = serde_json::from_slice(&entries[0].1).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == "scripts/service.rhai" {
            f["sha256"] = hex::encode(sha2::Sha256::digest(script.as_bytes())).into();
            f["size"] = script.len().into();
        }
    }
    entries[0].1 = manifest.to_string().into_bytes();
    let mut out = tar::Builder::new(Vec::new());
    for (path, data) in &mut entries {
        if path == "scripts/service.rhai" {
            *data = script.as_bytes().to_vec();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        out.append_data(&mut h, path.as_str(), data.as_slice())
            .unwrap();
    }
    regzip_like(bundle, &out.into_inner().unwrap())
}

/// Packs the service as `service.mbx` in its directory and serves it with
/// `run --bundle` (private directories under `tmp`): the bundle's path, its
/// bytes and the running host.
pub fn run_bundled(svc: &super::ServiceDir, tmp: &Path) -> (PathBuf, Vec<u8>, super::HostProcess) {
    let file = svc.path().join("service.mbx");
    moobius_host::bundle::pack(svc.path(), &file, Some("1.0.0")).expect("the service packs");
    let bytes = std::fs::read(&file).unwrap();
    let dir = svc.path().display().to_string();
    let args = ["run", "--dir", &dir, "--bundle", file.to_str().unwrap()];
    let host = super::HostProcess::spawn_with_env(&args, tmp, None, &[("TMPDIR", tmp)]);
    (file, bytes, host)
}
