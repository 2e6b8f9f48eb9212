//! Hostile bundles, crafted by hand with the tar and gzip crates: each is
//! refused with an error naming the problem, and nothing is left behind,
//! neither in the directory the private unpack directory was made in nor
//! where an escaping entry pointed.

use flate2::write::GzEncoder;
use flate2::Compression;
use moobius_host::bundle::{self, BundleError, BundleLimits};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use tar::{EntryType, Header};

const SCRIPT: &[u8] = b"fn on_start() { log(\"hi\"); }\n";

/// One archive entry: raw name bytes (so `..` and `/abs` can be written),
/// type, content, link target.
struct Raw {
    name: Vec<u8>,
    kind: EntryType,
    data: Vec<u8>,
    link: Option<&'static str>,
}

fn file(name: &str, data: &[u8]) -> Raw {
    Raw {
        name: name.as_bytes().to_vec(),
        kind: EntryType::Regular,
        data: data.to_vec(),
        link: None,
    }
}

fn special(name: &str, kind: EntryType, link: Option<&'static str>) -> Raw {
    Raw {
        name: name.as_bytes().to_vec(),
        kind,
        data: Vec::new(),
        link,
    }
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A manifest listing `files` (path, content) as they are.
fn manifest(files: &[(&str, &[u8])], min_host: &str) -> Raw {
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let listed: Vec<_> = sorted
        .iter()
        .map(|(p, d)| serde_json::json!({"path": p, "sha256": sha(d), "size": d.len()}))
        .collect();
    let m = serde_json::json!({
        "format": 1, "name": "hostile", "version": "1.0.0",
        "entry": "scripts/service.rhai", "min_host_version": min_host,
        "created": "2024-01-01T00:00:00Z", "created_unix": 1704067200u64,
        "files": listed,
    });
    file("manifest.json", m.to_string().as_bytes())
}

fn good_manifest() -> Raw {
    manifest(&[("scripts/service.rhai", SCRIPT)], "0.1.0")
}

/// Writes the entries as a tar.gz, names copied into the header verbatim.
fn craft(dir: &Path, entries: Vec<Raw>) -> std::path::PathBuf {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for e in entries {
        let mut h = Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..e.name.len()].copy_from_slice(&e.name);
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = e.link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        tar.append(&h, e.data.as_slice()).unwrap();
    }
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    let path = dir.join(format!("{}.mbx", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Unpacks `entries` into a fresh parent directory and returns the error,
/// after checking that the parent (and the outer directory where escapes
/// would land) hold nothing new.
fn refused(entries: Vec<Raw>, limits: BundleLimits) -> BundleError {
    let outer = tempfile::tempdir().unwrap();
    let parent = outer.path().join("tmp");
    std::fs::create_dir(&parent).unwrap();
    let file = craft(outer.path(), entries);
    let err =
        bundle::unpack_in(&file, &limits, &any(), &parent).expect_err("the bundle is refused");
    let left: Vec<_> = std::fs::read_dir(&parent).unwrap().collect();
    assert!(left.is_empty(), "stray files after {err}: {left:?}");
    let outer_left: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "tmp" && !n.ends_with(".mbx"))
        .collect();
    assert!(outer_left.is_empty(), "escaped: {outer_left:?}");
    err
}

fn defaults() -> BundleLimits {
    BundleLimits::default()
}

/// No trusted keys: any bundle, signed or not.
fn any() -> bundle::TrustedKeys {
    bundle::TrustedKeys::default()
}

#[test]
fn a_well_formed_crafted_bundle_unpacks() {
    let outer = tempfile::tempdir().unwrap();
    let f = craft(
        outer.path(),
        vec![good_manifest(), file("scripts/service.rhai", SCRIPT)],
    );
    let u = bundle::unpack_in(&f, &defaults(), &any(), outer.path()).unwrap();
    assert_eq!(std::fs::read(u.entry()).unwrap(), SCRIPT);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(u.root()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the unpack directory is private");
    }
    assert!(bundle::verify(&f, &defaults(), &any()).is_ok());
}

#[test]
fn dot_dot_entries_are_refused() {
    let e = refused(
        vec![
            good_manifest(),
            file("scripts/service.rhai", SCRIPT),
            file("../../escaped.txt", b"x"),
        ],
        defaults(),
    );
    assert!(
        matches!(&e, BundleError::UnsafePath { path, .. } if path.contains("..")),
        "{e}"
    );
    assert!(e.to_string().contains("'..'"), "{e}");
}

#[test]
fn absolute_paths_are_refused() {
    let target = tempfile::tempdir().unwrap();
    let abs = target.path().join("abs.txt");
    let e = refused(
        vec![
            good_manifest(),
            file("scripts/service.rhai", SCRIPT),
            file(abs.to_str().unwrap(), b"x"),
        ],
        defaults(),
    );
    assert!(e.to_string().contains("absolute paths"), "{e}");
    assert!(!abs.exists());
}

#[test]
fn symbolic_links_are_refused() {
    let e = refused(
        vec![
            good_manifest(),
            special("resources/passwd", EntryType::Symlink, Some("/etc/passwd")),
            file("scripts/service.rhai", SCRIPT),
        ],
        defaults(),
    );
    assert!(e.to_string().contains("symbolic link"), "{e}");
}

#[test]
fn hard_links_are_refused() {
    let e = refused(
        vec![
            good_manifest(),
            file("scripts/service.rhai", SCRIPT),
            special("resources/h", EntryType::Link, Some("scripts/service.rhai")),
        ],
        defaults(),
    );
    assert!(e.to_string().contains("hard link"), "{e}");
}

#[test]
fn duplicate_names_are_refused() {
    let e = refused(
        vec![
            good_manifest(),
            file("scripts/service.rhai", SCRIPT),
            file("scripts/service.rhai", SCRIPT),
        ],
        defaults(),
    );
    assert!(matches!(e, BundleError::Duplicate(_)), "{e}");
    assert!(e.to_string().contains("appears twice"), "{e}");
}

#[test]
fn a_hash_mismatch_is_refused() {
    let e = refused(
        vec![
            good_manifest(),
            file("scripts/service.rhai", b"fn on_start() { log(\"HI\"); }\n"),
        ],
        defaults(),
    );
    assert!(matches!(e, BundleError::HashMismatch { .. }), "{e}");
    assert!(e.to_string().contains("scripts/service.rhai"), "{e}");
}

#[test]
fn a_file_not_in_the_manifest_is_refused() {
    let e = refused(
        vec![
            good_manifest(),
            file("scripts/service.rhai", SCRIPT),
            file("resources/extra.png", b"png"),
        ],
        defaults(),
    );
    assert!(e.to_string().contains("not listed in manifest.json"), "{e}");
}

#[test]
fn a_listed_file_missing_from_the_archive_is_refused() {
    let e = refused(
        vec![
            manifest(
                &[
                    ("scripts/service.rhai", SCRIPT),
                    ("resources/a.png", b"png"),
                ],
                "0.1.0",
            ),
            file("scripts/service.rhai", SCRIPT),
        ],
        defaults(),
    );
    assert!(matches!(e, BundleError::MissingFromArchive(_)), "{e}");
}

#[test]
fn more_than_ten_thousand_entries_are_refused() {
    let mut entries = vec![good_manifest(), file("scripts/service.rhai", SCRIPT)];
    for i in 0..10_000 {
        entries.push(special(&format!("d{i}/"), EntryType::Directory, None));
    }
    let e = refused(entries, defaults());
    assert!(
        matches!(e, BundleError::TooManyEntries { limit: 10_000 }),
        "{e}"
    );
}

#[test]
fn more_than_the_size_limit_is_refused() {
    assert_eq!(defaults().max_unpacked_bytes, 64 << 20);
    // Incompressible, so that the size limit (not the ratio) is what trips.
    let mut big = vec![0u8; 2 << 20];
    let mut x: u32 = 1;
    for b in big.iter_mut() {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *b = (x >> 24) as u8;
    }
    let limits = BundleLimits {
        max_unpacked_bytes: 1 << 20,
        ..defaults()
    };
    let listed = [
        ("resources/big.bin", &big[..]),
        ("scripts/service.rhai", SCRIPT),
    ];
    // The manifest's own total is checked before any content is read ...
    let e = refused(
        vec![
            manifest(&listed, "0.1.0"),
            file("resources/big.bin", &big),
            file("scripts/service.rhai", SCRIPT),
        ],
        limits,
    );
    assert!(matches!(e, BundleError::TooLarge { .. }), "{e}");
    // ... and an entry larger than the manifest says is refused from its header.
    let e = refused(
        vec![
            manifest(
                &[
                    ("resources/big.bin", b"small"),
                    ("scripts/service.rhai", SCRIPT),
                ],
                "0.1.0",
            ),
            file("resources/big.bin", &big),
            file("scripts/service.rhai", SCRIPT),
        ],
        limits,
    );
    assert!(matches!(e, BundleError::SizeMismatch { .. }), "{e}");
}

#[test]
fn a_compression_bomb_is_stopped() {
    let zeros = vec![0u8; 8 << 20];
    let e = refused(
        vec![
            manifest(
                &[
                    ("resources/zeros.bin", &zeros),
                    ("scripts/service.rhai", SCRIPT),
                ],
                "0.1.0",
            ),
            file("resources/zeros.bin", &zeros),
            file("scripts/service.rhai", SCRIPT),
        ],
        defaults(),
    );
    assert!(
        matches!(e, BundleError::RatioExceeded { limit: 100 }),
        "{e}"
    );
}

#[test]
fn a_bundle_for_a_newer_host_is_refused() {
    let e = refused(
        vec![
            manifest(&[("scripts/service.rhai", SCRIPT)], "999.0.0"),
            file("scripts/service.rhai", SCRIPT),
        ],
        defaults(),
    );
    assert!(e.to_string().contains("needs moobius-host 999.0.0"), "{e}");
}

#[test]
fn the_manifest_must_come_first() {
    let e = refused(
        vec![file("scripts/service.rhai", SCRIPT), good_manifest()],
        defaults(),
    );
    assert!(matches!(e, BundleError::ManifestNotFirst(_)), "{e}");
}

#[test]
fn verify_names_the_first_problem_and_exits_2() {
    let outer = tempfile::tempdir().unwrap();
    let bad = craft(
        outer.path(),
        vec![
            good_manifest(),
            special("resources/passwd", EntryType::Symlink, Some("/etc/passwd")),
        ],
    );
    let broken_script = b"fn on_start() { let x = ; }\n";
    let uncompilable = craft(
        outer.path(),
        vec![
            manifest(&[("scripts/service.rhai", broken_script)], "0.1.0"),
            file("scripts/service.rhai", broken_script),
        ],
    );
    let run = |f: &Path| {
        Command::new(env!("CARGO_BIN_EXE_moobius-host"))
            .args(["bundle", "verify"])
            .arg(f)
            .env("TMPDIR", outer.path())
            .output()
            .unwrap()
    };
    let out = run(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("\"resources/passwd\" refused: it is a symbolic link"),
        "{stderr}"
    );
    let out = run(&uncompilable);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("scripts/service.rhai:1:"), "{stderr}");
    let out = run(&outer.path().join("missing.mbx"));
    assert_eq!(out.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".mbx"))
        .collect();
    assert!(left.is_empty(), "verify leaves nothing behind: {left:?}");
}
