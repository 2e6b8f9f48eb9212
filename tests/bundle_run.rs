//! Bundles end to end: pack -> verify -> `run --bundle` against the real
//! sandbox, a live swap by replacing the file, a tampered replacement that
//! is refused while the old version keeps serving, and packing itself
//! (reproducible, no credentials).

mod common;
use common::bundle::*;
use common::*;
use std::path::Path;

const SELF_FIRST: &str = "let payload = this.members[channel_id].view_for(member_id, [this.meow]);";
const SELF_LAST: &str =
    "let payload = this.members[channel_id].view_for(member_id, [this.meow]).to_array(); let me = payload.shift(); payload.push(me);";

fn pack(dir: &Path, out: &Path, version: &str) {
    moobius_host::bundle::pack(dir, out, Some(version)).expect("the service packs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_runs_swaps_live_and_refuses_a_tampered_replacement() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob", "carol"]).await;
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
        agents_created(&c),
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
    host.wait_logged(
        "the refusal is logged",
        &[
            "ERROR",
            "new bundle refused",
            "scripts/service.rhai",
            "SHA-256",
        ],
    )
    .await;
    refresh_answered(&c, "bob", &ch, "the running version answers").await;
    assert_eq!(sees(&c, "bob", &ch), ["Meow", "alice", "carol", "bob"]);
    assert_eq!(
        unpack_dirs(tmp.path()).len(),
        1,
        "the refused bundle left nothing"
    );

    // A clean stop removes the private directory.
    host.terminate();
    let status = host.exited().await;
    assert!(status.success(), "{status:?}\n{}", host.log());
    assert!(
        unpack_dirs(tmp.path()).is_empty(),
        "{:?}",
        unpack_dirs(tmp.path())
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_does_not_compile_keeps_the_old_version() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    let tmp = tempfile::tempdir().unwrap();
    let (file, v1, host) = run_bundled(&svc, tmp.path());
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;

    let broken = tutorial().replace(SELF_FIRST, "let payload = [member_id] +;");
    let staged = svc.path().join("next.mbx");
    std::fs::write(&staged, with_script(&v1, &broken)).unwrap();
    let out = cli(&["bundle", "verify", staged.to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::fs::rename(&staged, &file).unwrap();
    host.wait_logged(
        "the compile error is logged",
        &["ERROR", "reload failed", "scripts/service.rhai:"],
    )
    .await;
    refresh_until(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    assert!(!host.log().contains("bundle swapped"));
    // The refused version's directory is removed once the refusal is known.
    wait_for("only the running version's directory is left", || {
        let dirs = unpack_dirs(tmp.path())
            .iter()
            .filter(|n| n.starts_with(".moobius-bundle-"))
            .count();
        async move { (dirs == 1).then_some(()) }
    })
    .await;

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
