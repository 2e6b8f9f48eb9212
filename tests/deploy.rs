//! The deployment files in `deploy/`: the systemd unit passes
//! `systemd-analyze verify` (where systemd is installed), and the command
//! lines of the unit and of the Dockerfile are ones the binary accepts.
//! Nothing is built or pulled here.

mod common;
use common::*;
use std::process::Command;

fn read(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("deploy").join(name)).unwrap()
}

/// Runs the binary with `args` (the first being the subcommand) in an empty
/// service directory: it must get past argument parsing and stop at the
/// missing config.
fn accepted(args: &[String], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("/srv/moobius", &dir.path().display().to_string()))
        .collect();
    let out = Command::new(binary()).args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(
        err.contains("config.json"),
        "{what} should stop at the missing config: {err}"
    );
}

#[test]
fn the_systemd_unit_verifies_and_its_command_line_is_accepted() {
    let unit = read("moobius-host.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let words: Vec<String> = exec.split_whitespace().map(str::to_string).collect();
    assert_eq!(words[0], "/usr/local/bin/moobius-host");
    accepted(&words[1..], "ExecStart");
    for line in [
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }

    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed, the unit file is not verified");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let local = unit.replace("/usr/local/bin/moobius-host", binary());
    let path = dir.path().join("moobius-host.service");
    std::fs::write(&path, local).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let complaints: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("moobius-host.service"))
        .collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify:\n{said}"
    );
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_as_non_root() {
    let docker = read("Dockerfile");
    let froms: Vec<&str> = docker.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].contains(" AS build"));
    assert!(
        !froms[1].contains("rust"),
        "the final image carries no toolchain"
    );
    let user = docker
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(user != "root" && user != "0", "runs as {user}");
    assert!(docker.contains("cargo build --release --locked"));
    let entry = docker
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let words: Vec<String> = serde_json::from_str(entry).expect("ENTRYPOINT as a JSON list");
    assert_eq!(words[0], "/usr/local/bin/moobius-host");
    accepted(&words[1..], "ENTRYPOINT");
}

/// The Grafana dashboard graphs every metric family the host exports, and
/// only those (so neither can drift from `src/metrics.rs`).
#[test]
fn the_dashboard_covers_exactly_the_exported_families() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("grafana/moobius-host.json")).expect("dashboard JSON");
    let mut used = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for (i, _) in expr.match_indices("moobius_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name)
                    .to_string();
                used.insert(family);
            }
        }
    }
    let exported: std::collections::BTreeSet<String> = moobius_host::metrics::FAMILIES
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(used, exported, "dashboard families vs src/metrics.rs");
}
