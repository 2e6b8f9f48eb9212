//! Helpers for the cluster deploy tests: bundles packed from a script,
//! the `deploy` command, and reading which node runs what from `cluster
//! status --json`.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A bundle of `svc` with `script` as its entry, version `version`,
/// signed with `key` when given.
pub fn pack(svc: &ServiceDir, script: &str, version: &str, key: Option<&Path>) -> PathBuf {
    pack_with(svc, script, version, key, &[])
}

/// The same, with `extra` files (path in the bundle, bytes).
pub fn pack_with(
    svc: &ServiceDir,
    script: &str,
    version: &str,
    key: Option<&Path>,
    extra: &[(&str, Vec<u8>)],
) -> PathBuf {
    let src = svc.path().join(format!("src-{version}"));
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(src.join("scripts")).unwrap();
    std::fs::write(src.join("scripts/service.rhai"), script).unwrap();

    let res = svc.path().join("resources");
    if res.exists() {
        let ok = Command::new("cp")
            .args(["-r", res.to_str().unwrap(), src.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    for (path, bytes) in extra {
        let file = src.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
    let out = svc.path().join(format!("{version}.mbx"));
    let (o, s) = (out.to_str().unwrap(), src.to_str().unwrap());
    let mut args = vec!["bundle", "pack", s, "-o", o, "--version", version];
    if let Some(k) = key {
        args.extend(["--sign", k.to_str().unwrap()]);
    }
    let done = Command::new(binary()).args(&args).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

/// `len` bytes that do not compress (a compression-ratio check leaves
/// them alone).
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `moobius-host deploy ARGS --dir DIR --cluster URL`: (exit code, stdout+stderr).
pub fn deploy(svc: &ServiceDir, url: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = svc.path().display().to_string();
    let out = Command::new(binary())
        .arg("deploy")
        .args(args)
        .args(["--dir", &dir, "--cluster", url])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Each live node's deploy id, from `cluster status --json`.
pub fn versions(svc: &ServiceDir, url: &str) -> Vec<String> {
    let out = super::cluster_status(svc, url, true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    report["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["deploy"].as_str().unwrap_or("").to_string())
        .collect()
}

/// `deploy FILE --canary 34% --window WINDOW` in a thread of its own.
pub fn rollout(
    svc: &ServiceDir,
    url: &str,
    file: &Path,
    window: &str,
) -> std::thread::JoinHandle<std::process::Output> {
    let args: Vec<String> = [
        "deploy",
        file.to_str().unwrap(),
        "--canary",
        "34%",
        "--window",
        window,
        "--dir",
        &svc.path().display().to_string(),
        "--cluster",
        url,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    std::thread::spawn(move || Command::new(binary()).args(&args).output().unwrap())
}

/// Waits until a canary runs; `cluster status --json` then.
pub async fn canary_runs(svc: &ServiceDir, url: &str) -> serde_json::Value {
    wait_for("the canary runs", || {
        let out = super::cluster_status(svc, url, true);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let canary = r["deploy"]["state"] == "canary";
        async move { canary.then_some(r) }
    })
    .await
}

/// Which of `nodes` is the node named `name` (`host-PID-random`).
pub fn index_of(nodes: &[HostProcess], name: &str) -> usize {
    nodes
        .iter()
        .position(|n| name.contains(&format!("-{}-", n.child.id())))
        .unwrap_or_else(|| panic!("no node process is {name}"))
}

/// The rollout's exit code 0 and its deploy id.
pub fn committed(out: std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    text.split("deploy ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string()
}

/// Waits until the live nodes are `count` and all run deploy `id`.
pub async fn all_run(svc: &ServiceDir, url: &str, count: usize, id: &str) {
    wait_for(&format!("{count} nodes run {id}"), || {
        let v = versions(svc, url);
        let done = v.len() == count && v.iter().all(|x| x == id);
        async move { done.then_some(()) }
    })
    .await;
}
