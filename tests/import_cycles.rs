//! Import cycles are diagnostics, never a crash: `check`, `bundle verify`
//! and start-up refuse them with exit 2 and the cycle named; a running host
//! that sees one (a save, or a bundle copied over its file) keeps serving the
//! old version and takes the fixed one.

mod common;
use common::bundle::*;
use common::*;
use std::path::Path;
use std::process::Command;

const SELF_FIRST: &str = "let payload = this.members[channel_id].view_for(member_id, [this.meow]);";
const SELF_LAST: &str =
    "let payload = this.members[channel_id].view_for(member_id, [this.meow]).to_array(); let me = payload.shift(); payload.push(me);";

/// Runs the binary in `dir`: (exit code, stdout + stderr).
fn run_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A service directory whose script imports `a`, which imports the service.
fn two_file_cycle(dir: &Path) {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(
        dir.join("scripts/a.rhai"),
        "import \"service\" as me;\nfn x() { 1 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("scripts/service.rhai"),
        format!("import \"a\" as a;\n{}", tutorial()),
    )
    .unwrap();
}

#[test]
fn check_names_a_two_file_cycle_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    two_file_cycle(dir.path());
    let (code, out) = run_in(dir.path(), &["check"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("scripts/a.rhai:1:8: import cycle: service -> a -> service"),
        "{out}"
    );
}

#[test]
fn check_names_a_file_importing_itself() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(
        dir.path().join("scripts/service.rhai"),
        format!("import \"service\" as me;\n{}", tutorial()),
    )
    .unwrap();
    let (code, out) = run_in(dir.path(), &["check"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("scripts/service.rhai:1:1: import cycle: service -> service"),
        "{out}"
    );
}

#[test]
fn a_chain_of_imports_too_deep_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    for i in 0..40 {
        std::fs::write(
            dir.path().join(format!("scripts/m{i}.rhai")),
            format!("import \"m{}\" as next;\nfn f() {{ {i} }}\n", i + 1),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("scripts/m40.rhai"), "fn f() { 40 }\n").unwrap();
    std::fs::write(
        dir.path().join("scripts/service.rhai"),
        format!("import \"m0\" as m;\n{}", tutorial()),
    )
    .unwrap();
    let (code, out) = run_in(dir.path(), &["check"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("imports nested deeper than 32 files"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_with_a_cycle_exits_2() {
    let sandbox = start_sandbox().await;
    let ch = sandbox.control().create_channel("lobby");
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    two_file_cycle(svc.path());
    let dir = svc.path().display().to_string();
    let out = Command::new(binary())
        .args(["run", "--dir", &dir, "--no-watch"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("import cycle: service -> a -> service"),
        "{err}"
    );
    sandbox.shutdown().await;
}

#[test]
fn bundle_verify_refuses_a_bundle_holding_a_cycle() {
    let svc = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(svc.path().join("scripts")).unwrap();
    std::fs::write(svc.path().join("scripts/service.rhai"), tutorial()).unwrap();
    std::fs::create_dir_all(svc.path().join("resources")).unwrap();
    std::fs::copy(
        repo_root().join("resources/avatar.png"),
        svc.path().join("resources/avatar.png"),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("service.mbx");
    moobius_host::bundle::pack(svc.path(), &file, Some("1.0.0")).expect("the service packs");
    let cyclic = with_script(
        &std::fs::read(&file).unwrap(),
        &format!("import \"service\" as me;\n{}", tutorial()),
    );
    std::fs::write(&file, cyclic).unwrap();
    let out = cli(&["bundle", "verify", file.to_str().unwrap()], tmp.path());
    let text = format!("{out:?}");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("import cycle: service -> service"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_saved_while_serving_keeps_the_old_version_until_fixed() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &tutorial());
    let mut host = svc.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;

    two_file_cycle(svc.path());
    host.wait_logged(
        "the cycle is reported as a failed reload",
        &["reload failed", "import cycle: service -> a -> service"],
    )
    .await;
    refresh_answered(&c, "alice", &ch, "the old version serves the refresh").await;
    assert_eq!(sees(&c, "alice", &ch), ["alice", "Meow", "bob"]);
    host.assert_running("after the cyclic save");

    // Breaking the cycle lets the new version in.
    std::fs::write(svc.path().join("scripts/a.rhai"), "fn x() { 1 }\n").unwrap();
    std::fs::write(
        svc.path().join("scripts/service.rhai"),
        format!(
            "import \"a\" as a;\n{}",
            tutorial().replace(SELF_FIRST, SELF_LAST)
        ),
    )
    .unwrap();
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "alice"]).await;
    host.kill();
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cyclic_bundle_copied_over_a_running_one_is_refused() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    let tmp = tempfile::tempdir().unwrap();
    let (file, v1, mut host) = run_bundled(&svc, tmp.path());
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;

    let staged = svc.path().join("next.mbx");
    let cyclic = format!("import \"service\" as me;\n{}", tutorial());
    std::fs::write(&staged, with_script(&v1, &cyclic)).unwrap();
    std::fs::rename(&staged, &file).unwrap();
    host.wait_logged(
        "the cyclic bundle is refused",
        &["reload failed", "import cycle: service -> service"],
    )
    .await;
    refresh_until(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    host.assert_running("after the cyclic bundle");

    let fixed = with_script(&v1, &tutorial().replace(SELF_FIRST, SELF_LAST));
    std::fs::write(&staged, fixed).unwrap();
    std::fs::rename(&staged, &file).unwrap();
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "alice"]).await;
    host.kill();
    sandbox.shutdown().await;
}
