//! Bundles whose gzip stream is damaged or carries more than one stream:
//! a bad checksum or length in the trailer, a truncated stream, and bytes
//! (or a second gzip member) after the end are refused, by `unpack` with
//! nothing left behind and by `bundle verify` with exit code 2. Tar-level
//! attacks are in `bundle_hostile.rs`.

use moobius_host::bundle::{self, BundleError, BundleLimits};
use std::path::Path;
use std::process::Command;

const SCRIPT: &[u8] = b"fn on_start() { log(\"hi\"); }\n";

/// A bundle packed by `bundle::pack` from a minimal service directory.
fn packed(dir: &Path) -> Vec<u8> {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("scripts")).unwrap();
    std::fs::write(src.join("scripts/service.rhai"), SCRIPT).unwrap();
    let out = dir.join("packed.mbx");
    bundle::pack(&src, &out, None).unwrap();
    std::fs::read(&out).unwrap()
}

/// `bundle verify` of `bytes` (written to a file in `dir`): exit code and stderr.
fn verify_cli(dir: &Path, bytes: &[u8]) -> (Option<i32>, String) {
    let file = dir.join(format!("{}.mbx", uuid::Uuid::new_v4()));
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_moobius-host"))
        .args(["bundle", "verify"])
        .arg(&file)
        .env("TMPDIR", dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Unpacks `bytes` into a fresh directory; returns the error and checks
/// that nothing was left behind.
fn refused_bytes(bytes: &[u8]) -> BundleError {
    let outer = tempfile::tempdir().unwrap();
    let file = outer.path().join("b.mbx");
    std::fs::write(&file, bytes).unwrap();
    let parent = outer.path().join("tmp");
    std::fs::create_dir(&parent).unwrap();
    let err = bundle::unpack_in(
        &file,
        &BundleLimits::default(),
        &bundle::TrustedKeys::default(),
        &parent,
    )
    .expect_err("the bundle is refused");
    assert_eq!(
        std::fs::read_dir(&parent).unwrap().count(),
        0,
        "after {err}"
    );
    err
}

#[test]
fn a_damaged_gzip_trailer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = packed(dir.path());
    assert_eq!(verify_cli(dir.path(), &good).0, Some(0));
    // The trailer is CRC-32 then length, 4 bytes each, little-endian.
    let mut bad_crc = good.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0x01;
    let e = refused_bytes(&bad_crc);
    assert!(e.to_string().contains("checksum"), "{e}");
    let (code, stderr) = verify_cli(dir.path(), &bad_crc);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");

    let mut bad_length = good.clone();
    let len_at = bad_length.len() - 4;
    bad_length[len_at] ^= 0x01;
    let (code, stderr) = verify_cli(dir.path(), &bad_length);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");

    let truncated = &good[..good.len() - 3];
    let (code, stderr) = verify_cli(dir.path(), truncated);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("ends before its gzip stream"), "{stderr}");
}

#[test]
fn bytes_after_the_gzip_stream_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = packed(dir.path());
    let mut appended = good.clone();
    appended.extend_from_slice(b"#!/bin/sh\necho hidden\n");
    let e = refused_bytes(&appended);
    assert!(
        e.to_string()
            .contains("22 bytes follow the end of its gzip stream"),
        "{e}"
    );
    let (code, stderr) = verify_cli(dir.path(), &appended);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("follow the end of its gzip stream"),
        "{stderr}"
    );
    // A second gzip member is as much a hidden payload as plain garbage.
    let mut two = good.clone();
    two.extend_from_slice(&good);
    let (code, stderr) = verify_cli(dir.path(), &two);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("follow the end of its gzip stream"),
        "{stderr}"
    );
}
