//! Small things an author meets through the real binary: `cluster status`
//! without account credentials, `bundle pack --name`, and `new --example`.

mod common;
use common::{binary, repo_root};
use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_remove("MOOBIUS_EMAIL")
        .env_remove("MOOBIUS_PASSWORD")
        .env_remove("MOOBIUS_CLUSTER_URL")
        .output()
        .unwrap();
    eprintln!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn cluster_status_reads_redis_without_asking_for_an_account() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/config.json"),
        r#"{"service_config": {"service_id": "svc-1"}}"#,
    )
    .unwrap();
    // A port nothing listens on: the command gets as far as Redis.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let out = run(dir.path(), &["cluster", "status", "--cluster", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("account_config"), "{stderr}");
}

#[test]
fn bundle_pack_takes_a_name() {
    let root = tempfile::tempdir().unwrap();
    assert!(run(root.path(), &["new", "svc-dir"]).status.success());
    let out = run(
        root.path(),
        &[
            "bundle",
            "pack",
            "svc-dir",
            "-o",
            "z.mbx",
            "--name",
            "zero",
            "--version",
            "1.2.0",
        ],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("packed zero 1.2.0 into z.mbx: "),
        "{stdout}"
    );
    let inspected = run(root.path(), &["bundle", "inspect", "z.mbx", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(v["manifest"]["name"], "zero");
    // Without --name: the directory's.
    let out = run(root.path(), &["bundle", "pack", "svc-dir", "-o", "d.mbx"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("packed svc-dir 0.0.0 into d.mbx: "),
        "{stdout}"
    );
}

#[test]
fn new_example_starts_from_an_example_whose_tests_pass() {
    let root = tempfile::tempdir().unwrap();
    for name in ["countdown", "assistant"] {
        let out = run(root.path(), &["new", "--example", name, name]);
        assert!(out.status.success(), "new --example {name}");
        let dir = root.path().join(name);
        let service = std::fs::read_to_string(dir.join("scripts/service.rhai")).unwrap();
        let example = repo_root().join(format!("scripts/examples/{name}.rhai"));
        assert_eq!(service, std::fs::read_to_string(example).unwrap());
        let tested = run(&dir, &["test"]);
        let report = String::from_utf8_lossy(&tested.stdout);
        assert!(tested.status.success(), "{report}");
        assert!(
            report.contains(&format!("from tests/scenarios/{name}.rhai")),
            "{report}"
        );
    }
    let out = run(root.path(), &["new", "--example", "nope", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().take(2).collect::<Vec<_>>(),
        [
            "error: invalid value 'nope' for '--example <EXAMPLE>'",
            "  [possible values: meow, groupchat, buttons, menucanvas, countdown, assistant]"
        ]
    );
    assert!(!root.path().join("x").exists());
}
