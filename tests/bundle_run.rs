//! Bundles end to end: pack -> verify -> `run --bundle` against the real
//! sandbox, a live swap by replacing the file, a tampered replacement that
//! is refused while the old version keeps serving, and packing itself
//! (reproducible, no credentials).

mod common;
use common::*;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SELF_FIRST: &str =
    "let payload = [member_id] + characters.extract(0, ind) + characters.extract(ind + 1);";
const SELF_LAST: &str =
    "let payload = characters.extract(0, ind) + characters.extract(ind + 1) + [member_id];";

fn tutorial() -> String {
    std::fs::read_to_string(repo_root().join("scripts/service.rhai")).unwrap()
}

fn pack(dir: &Path, out: &Path, version: &str) {
    moobius_host::bundle::pack(dir, out, Some(version)).expect("the service packs");
}

fn cli(args: &[&str], tmp: &Path) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .unwrap()
}

/// The tar inside a bundle.
fn untar(bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bundle).read_to_end(&mut out).unwrap();
    out
}

/// The bundle with one byte of its entry script flipped (the manifest untouched).
fn tampered(bundle: &[u8]) -> Vec<u8> {
    let mut tar = untar(bundle);
    let at = tar
        .windows(4)
        .position(|w| w == b"Meow")
        .expect("the script is in the archive");
    tar[at + 3] ^= 0x01;
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn unpack_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

async fn refresh_until(
    c: &moobius_host::sandbox::SandboxControl,
    user: &str,
    ch: &str,
    expected: &[&str],
) {
    wait_for(&format!("{user} sees {expected:?}"), || async {
        c.act(user, ch, "refresh").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        (sees(c, user, ch) == expected).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_runs_swaps_live_and_refuses_a_tampered_replacement() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    for m in ["alice", "bob", "carol"] {
        c.create_user(m);
        c.act(m, &ch, "join").await.unwrap();
    }
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    let deploy = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = deploy.path().join("service.mbx");
    pack(svc.path(), &file, "1.0.0");
    let v1 = std::fs::read(&file).unwrap();
    let out = cli(&["bundle", "verify", file.to_str().unwrap()], tmp.path());
    assert!(out.status.success(), "{out:?}");

    // What runs is the bundle, not the directory: break the directory's script.
    std::fs::write(svc.path().join("scripts/service.rhai"), "fn broken( {").unwrap();
    let dir = svc.path().display().to_string();
    let args = ["run", "--dir", &dir, "--bundle", file.to_str().unwrap()];
    let mut host =
        HostProcess::spawn_with_env(&args, deploy.path(), None, &[("TMPDIR", tmp.path())]);
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob", "carol"]).await;
    wait_sees(&c, "bob", &ch, &["bob", "Meow", "alice", "carol"]).await;
    wait_sees(&c, "carol", &ch, &["carol", "Meow", "alice", "bob"]).await;
    assert_eq!(unpack_dirs(tmp.path()).len(), 1, "one private directory");

    // v2, put in place by an atomic rename: swapped live, `this` kept.
    let v2_dir =
        ServiceDir::with_script(&sandbox, &[&ch], &tutorial().replace(SELF_FIRST, SELF_LAST));
    let staged = deploy.path().join("service.mbx.new");
    pack(v2_dir.path(), &staged, "2.0.0");
    std::fs::rename(&staged, &file).unwrap();
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "carol", "alice"]).await;
    assert_eq!(
        c.stats()
            .requests
            .get("POST /service/character/create")
            .copied(),
        Some(1),
        "no second Meow: the state was kept"
    );
    wait_for("the old version's directory is removed", || {
        let n = unpack_dirs(tmp.path()).len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    assert!(host.log().contains("bundle swapped"), "{}", host.log());

    // A tampered copy written over the file: refused, v2 keeps serving.
    std::fs::write(&file, tampered(&v1)).unwrap();
    wait_for("the refusal is logged", || {
        let log = host.log();
        async move {
            log.lines()
                .any(|l| {
                    l.contains("ERROR")
                        && l.contains("new bundle refused")
                        && l.contains("scripts/service.rhai")
                        && l.contains("SHA-256")
                })
                .then_some(())
        }
    })
    .await;
    let v = version(&c, "bob", &ch);
    c.act("bob", &ch, "refresh").await.unwrap();
    wait_for("the running version answers", || async {
        (version(&c, "bob", &ch) > v).then_some(())
    })
    .await;
    assert_eq!(sees(&c, "bob", &ch), ["Meow", "alice", "carol", "bob"]);
    assert_eq!(
        unpack_dirs(tmp.path()).len(),
        1,
        "the refused bundle left nothing"
    );

    // A clean stop removes the private directory.
    let pid = host.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = host.child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", host.log());
    assert!(
        unpack_dirs(tmp.path()).is_empty(),
        "{:?}",
        unpack_dirs(tmp.path())
    );
    sandbox.shutdown().await;
}

/// A service directory whose config holds credentials in every way it can.
fn dir_with_secrets() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for sub in ["scripts", "resources", "config", "tests/scenarios"] {
        std::fs::create_dir_all(p.join(sub)).unwrap();
    }
    std::fs::write(p.join("scripts/service.rhai"), tutorial()).unwrap();
    std::fs::write(p.join("scripts/.service.rhai.swp"), "editor junk").unwrap();
    std::fs::copy(
        repo_root().join("resources/avatar.png"),
        p.join("resources/avatar.png"),
    )
    .unwrap();
    std::fs::write(p.join("tests/scenarios/join.rhai"), "fn scenario() { }\n").unwrap();
    std::fs::write(p.join("notes.txt"), "not packed").unwrap();
    std::fs::write(
        p.join("bundle.toml"),
        "name = \"zero\"\nversion = \"3.1.4\"\n",
    )
    .unwrap();
    write_json(
        &p.join("config/config.json"),
        &serde_json::json!({
            "account_config": "config/account.json",
            "service_config": "config/service.json",
            "log_config": {"terminal_log_level": "INFO", "api_token": "tok-SECRET-3"}
        }),
    );
    write_json(
        &p.join("config/account.json"),
        &serde_json::json!({"email": "owner@secret.example", "password": "pw-SECRET-1"}),
    );
    write_json(
        &p.join("config/service.json"),
        &serde_json::json!({"channels": ["c1"], "password": "pw-SECRET-2"}),
    );
    d
}

#[test]
fn packing_is_reproducible_and_never_holds_credentials() {
    let src = dir_with_secrets();
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("a.mbx"), out.path().join("b.mbx"));
    let m = moobius_host::bundle::pack(src.path(), &a, None).unwrap();
    moobius_host::bundle::pack(src.path(), &b, None).unwrap();
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "identical bytes"
    );
    assert_eq!((m.name.as_str(), m.version.as_str()), ("zero", "3.1.4"));
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "config/config.json",
            "config/service.json",
            "resources/avatar.png",
            "scripts/service.rhai",
            "tests/scenarios/join.rhai"
        ]
    );
    let tar = untar(&std::fs::read(&a).unwrap());
    for secret in [
        "pw-SECRET-1",
        "pw-SECRET-2",
        "tok-SECRET-3",
        "owner@secret.example",
        "account",
    ] {
        assert!(
            !tar.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the bundle"
        );
    }

    // The binary: SOURCE_DATE_EPOCH sets the time, --version the version,
    // and inspect --json shows both.
    let c = out.path().join("c.mbx");
    let packed = Command::new(binary())
        .args(["bundle", "pack"])
        .arg(src.path())
        .args(["-o", c.to_str().unwrap(), "--version", "9.9.9"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(packed.status.success(), "{packed:?}");
    let shown = cli(
        &["bundle", "inspect", "--json", c.to_str().unwrap()],
        out.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(v["manifest"]["version"], "9.9.9");
    assert_eq!(v["manifest"]["created_unix"], 1_700_000_000u64);
    assert_eq!(v["manifest"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(v["entries"][0]["path"], "manifest.json");
    let human = cli(&["bundle", "inspect", c.to_str().unwrap()], out.path());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("version:          9.9.9") && text.contains("scripts/service.rhai"),
        "{text}"
    );
}

/// The bundle with its entry script replaced and the manifest updated to
/// match: a well-formed bundle whose script does not compile.
fn with_script(bundle: &[u8], script: &str) -> Vec<u8> {
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
    let mut out = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::default()));
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
    out.into_inner().unwrap().finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_does_not_compile_keeps_the_old_version() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    for m in ["alice", "bob"] {
        c.create_user(m);
        c.act(m, &ch, "join").await.unwrap();
    }
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    let tmp = tempfile::tempdir().unwrap();
    let file = svc.path().join("service.mbx");
    pack(svc.path(), &file, "1.0.0");
    let v1 = std::fs::read(&file).unwrap();
    let dir = svc.path().display().to_string();
    let args = ["run", "--dir", &dir, "--bundle", file.to_str().unwrap()];
    let host = HostProcess::spawn_with_env(&args, tmp.path(), None, &[("TMPDIR", tmp.path())]);
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;

    let broken = tutorial().replace(SELF_FIRST, "let payload = [member_id] +;");
    let staged = svc.path().join("next.mbx");
    std::fs::write(&staged, with_script(&v1, &broken)).unwrap();
    let out = cli(&["bundle", "verify", staged.to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::fs::rename(&staged, &file).unwrap();
    wait_for("the compile error is logged", || {
        let log = host.log();
        async move {
            log.lines()
                .any(|l| {
                    l.contains("ERROR")
                        && l.contains("reload failed")
                        && l.contains("scripts/service.rhai:")
                })
                .then_some(())
        }
    })
    .await;
    refresh_until(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    assert!(!host.log().contains("bundle swapped"));
    assert_eq!(
        unpack_dirs(tmp.path())
            .iter()
            .filter(|n| n.starts_with(".moobius-bundle-"))
            .count(),
        1,
        "only the running version's directory"
    );

    // A fixed bundle then swaps normally.
    std::fs::write(
        &staged,
        with_script(&v1, &tutorial().replace(SELF_FIRST, SELF_LAST)),
    )
    .unwrap();
    std::fs::rename(&staged, &file).unwrap();
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "alice"]).await;
    sandbox.shutdown().await;
}

#[test]
fn a_hostile_bundle_stops_run_before_any_network_and_help_explains_bundles() {
    let d = dir_with_secrets();
    let tmp = tempfile::tempdir().unwrap();
    let file = d.path().join("s.mbx");
    moobius_host::bundle::pack(d.path(), &file, None).unwrap();
    std::fs::write(&file, tampered(&std::fs::read(&file).unwrap())).unwrap();
    // The config points at a port nothing listens on: exit 2 proves the
    // bundle was refused before any connection was tried.
    write_json(
        &d.path().join("config/service.json"),
        &serde_json::json!({"http_server_uri": "http://127.0.0.1:9/", "ws_server_uri": "ws://127.0.0.1:9/", "channels": []}),
    );
    let dir = d.path().display().to_string();
    let out = cli(
        &["run", "--dir", &dir, "--bundle", file.to_str().unwrap()],
        tmp.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("SHA-256") && stderr.contains("scripts/service.rhai"),
        "{stderr}"
    );
    assert!(unpack_dirs(tmp.path()).is_empty());

    for (args, needle) in [
        (&["bundle", "--help"][..], "tar tzf"),
        (&["bundle", "pack", "--help"], "SOURCE_DATE_EPOCH"),
        (&["bundle", "inspect", "--help"], "--json"),
        (&["bundle", "verify", "--help"], "without network"),
        (&["run", "--help"], "--bundle"),
    ] {
        let out = cli(args, tmp.path());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(needle),
            "{args:?}: {text}"
        );
    }
}
