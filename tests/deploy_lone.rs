//! Deploys to a lone host (`run --admin`) against the real sandbox, through
//! the real `moobius-host deploy` command: a good bundle reaches every
//! member's view, is listed and shown in /status and the metrics, is not
//! replaced by a file save, survives a restart and is rolled back in one
//! step; broken bundles are vetoed and unsigned ones refused, changing
//! nothing; a canary that throws is rolled back by itself while a good one
//! is promoted; a second deploy during a canary is refused.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tutorial's service with its agent named `agent`, whose `on_reload`
/// makes that agent and sends every member their view again: a new
/// version shows at once, without a refresh.
fn service(agent: &str) -> String {
    let reload = format!(
        r#"
fn on_reload() {{
    this.meow = create_agent("{agent}", "resources/avatar.png");
    for ch in this.members.keys() {{ this.sync_channel(ch); }}
}}
"#
    );
    tutorial().replace("\"Meow\"", &format!("\"{agent}\"")) + reload.as_str()
}

/// A directory holding one version of the service, to pack.
fn version_dir(root: &Path, name: &str, script: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("resources")).unwrap();
    std::fs::write(dir.join("scripts/service.rhai"), script).unwrap();
    std::fs::copy(
        repo_root().join("resources/avatar.png"),
        dir.join("resources/avatar.png"),
    )
    .unwrap();
    dir
}

/// Runs the binary: exit code, stdout, stderr.
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(binary()).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `bundle pack` of a version of the service (signed with `key` if given).
fn pack(root: &Path, name: &str, script: &str, version: &str, key: Option<&Path>) -> PathBuf {
    let dir = version_dir(root, name, script);
    let out = root.join(format!("{name}.mbx"));
    let (d, o) = (dir.display().to_string(), out.display().to_string());
    let mut args = vec!["bundle", "pack", &d, "-o", &o, "--version", version];
    let k = key.map(|k| k.display().to_string());
    if let Some(k) = &k {
        args.extend(["--sign", k]);
    }
    let (code, stdout, stderr) = cli(&args);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    out
}

/// `moobius-host deploy ARGS --dir SVC`, off the runtime's threads (the
/// sandbox serves the host meanwhile).
async fn deploy(svc: &ServiceDir, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all: Vec<String> = vec!["deploy".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(["--dir".into(), svc.path().display().to_string()]);
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        cli(&refs)
    })
    .await
    .unwrap()
}

fn run_admin(svc: &ServiceDir) -> HostProcess {
    let dir = svc.path().display().to_string();
    HostProcess::spawn_with_env(
        &["run", "--dir", &dir, "--admin", "127.0.0.1:0"],
        svc.path(),
        None,
        &[("RUST_LOG", "info")],
    )
}

async fn get(url: &str, token: &str) -> String {
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_reaches_every_member_is_shown_survives_a_restart_and_rolls_back() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &service("Meow"));
    let mut host = run_admin(&svc);
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    let root = tempfile::tempdir().unwrap();
    let v2 = pack(root.path(), "v2", &service("Purr"), "2.0.0", None);

    let (code, out, err) = deploy(&svc, &[v2.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "{out}{err}\n{}", host.log());
    assert!(
        out.contains("promoted: every script thread runs 2.0.0"),
        "{out}"
    );
    wait_sees(&c, "alice", &ch, &["alice", "Purr", "bob"]).await;
    wait_sees(&c, "bob", &ch, &["bob", "Purr", "alice"]).await;

    let (code, list, _) = deploy(&svc, &["list"]).await;
    assert_eq!(code, Some(0));
    let row = list.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("2.0.0") && row.contains("promoted") && row.contains("unsigned"),
        "{list}"
    );
    let (url, token) = admin_endpoint(svc.path()).await;
    let status: Value = serde_json::from_str(&get(&format!("{url}/status"), &token).await).unwrap();
    assert_eq!(status["deploy"]["version"], "2.0.0", "{status}");
    assert_eq!(status["deploy"]["state"], "promoted");
    assert_eq!(status["script"]["thread_versions"][0]["version"], "2.0.0");
    let metrics = get(&format!("{url}/metrics"), &token).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("moobius_deploys_total{outcome=\"promoted\"} 1")),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("moobius_version_info{")
                && l.contains("version=\"2.0.0\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );

    // A save of the directory's files does not replace the deployed version.
    std::fs::write(svc.path().join("scripts/service.rhai"), service("Saved")).unwrap();
    host.wait_logged(
        "the save is not applied",
        &["WARN", "not reloaded", "2.0.0"],
    )
    .await;
    refresh_until(&c, "alice", &ch, &["alice", "Purr", "bob"]).await;

    // A restart runs the deployed version, and says so.
    host.terminate();
    assert!(host.exited().await.success(), "{}", host.log());
    std::fs::write(svc.path().join("scripts/service.rhai"), service("Meow")).unwrap();
    let host = run_admin(&svc);
    host.wait_logged(
        "the restart says what runs",
        &["INFO", "running the last deployed version", "--rollback"],
    )
    .await;
    refresh_until(&c, "bob", &ch, &["bob", "Purr", "alice"]).await;

    // One step back: the directory's files, which run again.
    let (code, out, err) = deploy(&svc, &["--rollback"]).await;
    assert_eq!(code, Some(0), "{out}{err}\n{}", host.log());
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    let (_, list, _) = deploy(&svc, &["list", "--json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["kind"], "rollback", "{list}");
    assert_eq!(list[0]["outcome"], "promoted");
    assert_eq!(list[0]["previous"]["version"], "2.0.0");
    assert_eq!(list[1]["version"], "2.0.0");
    // A second rollback returns to the version the first one left (a toggle).
    let (code, out, _) = deploy(&svc, &["--rollback"]).await;
    assert_eq!(code, Some(0), "{out}");
    wait_sees(&c, "alice", &ch, &["alice", "Purr", "bob"]).await;
    sandbox.shutdown().await;
}

/// A key pair by `bundle keygen`: (secret key file, public key line).
fn keygen(dir: &Path) -> (PathBuf, String) {
    let base = dir.join("release");
    let (code, out, err) = cli(&["bundle", "keygen", base.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let public = std::fs::read_to_string(base.with_extension("pub")).unwrap();
    let line = public
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    (base.with_extension("key"), line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bundles_are_vetoed_and_unsigned_ones_refused_changing_nothing() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &service("Meow"));
    let root = tempfile::tempdir().unwrap();
    let (key, public) = keygen(root.path());
    svc.set_service_key("trusted_keys", json!([public]));
    svc.set_config_key("script_limits", json!({"max_string_size": 1000}));
    let host = run_admin(&svc);
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    let agents = agents_created(&c);

    let unsigned = pack(root.path(), "unsigned", &service("Purr"), "2.0.0", None);
    // Without the token, refused before the body is read.
    let (url, _) = admin_endpoint(svc.path()).await;
    let bytes = std::fs::read(&unsigned).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{url}/deploy"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (code, out, err) = deploy(&svc, &[unsigned.to_str().unwrap()]).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("refused") && out.contains("not signed"),
        "{out}"
    );

    // Packs (with the default limits), but does not compile on this host,
    // whose script_limits.max_string_size the literal is over.
    let banner = format!("\nfn banner() {{ \"{}\" }}\n", "x".repeat(2000));
    let broken = service("Purr") + banner.as_str();
    let broken = pack(root.path(), "broken", &broken, "2.0.1", Some(&key));
    let (code, out, err) = deploy(&svc, &[broken.to_str().unwrap()]).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("vetoed"), "{out}");
    assert!(
        err.contains("script thread 0") && err.contains("scripts/service.rhai:"),
        "{err}"
    );

    let throws = service("Purr").replace(
        "fn on_reload() {",
        "fn on_reload() { throw \"cannot migrate this\";",
    );
    let throws = pack(root.path(), "throws", &throws, "2.0.2", Some(&key));
    let (code, out, err) = deploy(&svc, &[throws.to_str().unwrap()]).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("on_reload") && err.contains("cannot migrate this"),
        "{err}"
    );

    // Nothing changed: the old version answers, no agent was made, and the
    // history says why each one did not run.
    refresh_until(&c, "bob", &ch, &["bob", "Meow", "alice"]).await;
    assert_eq!(agents_created(&c), agents, "the dry run created no agent");
    let (_, list, _) = deploy(&svc, &["list", "--json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    let outcomes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["vetoed", "vetoed", "refused"], "{list}");
    assert_eq!(list[0]["veto"]["at"], "script thread 0");
    assert!(list[0]["signer"].is_string(), "{list}");
    assert!(
        !svc.path()
            .join("data/deploys")
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "mbx")),
        "no vetoed bundle is kept"
    );

    // A good signed one then runs.
    let good = pack(root.path(), "good", &service("Purr"), "2.1.0", Some(&key));
    let (code, out, err) = deploy(&svc, &[good.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "{out}{err}\n{}", host.log());
    wait_sees(&c, "alice", &ch, &["alice", "Purr", "bob"]).await;
    sandbox.shutdown().await;
}

/// Lobbies until one is served by script thread `want` of `threads`, and
/// one by another thread: (the one on `want`, the other).
async fn lobbies_on(
    sandbox: &moobius_host::sandbox::Sandbox,
    threads: usize,
    want: usize,
) -> (String, String) {
    let (mut on, mut off) = (None, None);
    for i in 0..64 {
        let ch = lobby(sandbox, &[&format!("m{i}a"), &format!("m{i}b")]).await;
        let shard = moobius_host::protocol::ids::shard_of(&ch, threads);
        if shard == want && on.is_none() {
            on = Some(ch);
        } else if shard != want && off.is_none() {
            off = Some(ch);
        }
        if let (Some(a), Some(b)) = (&on, &off) {
            return (a.clone(), b.clone());
        }
    }
    panic!("no lobby on thread {want} of {threads}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_rolls_back_by_itself_and_a_good_one_is_promoted() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    // 10% of 4 script threads is thread 0.
    let (canary_ch, other_ch) = lobbies_on(&sandbox, 4, 0).await;
    let svc = ServiceDir::with_script(&sandbox, &[&canary_ch, &other_ch], &service("Meow"));
    svc.set_service_key("script_threads", json!(4));
    svc.set_config_key("deploy", json!({"min_events": 3}));
    let host = run_admin(&svc);
    let (a, b) = (member_names(&c, &canary_ch), member_names(&c, &other_ch));
    wait_sees(&c, &a[0], &canary_ch, &[&a[0], "Meow", &a[1]]).await;
    wait_sees(&c, &b[0], &other_ch, &[&b[0], "Meow", &b[1]]).await;
    let root = tempfile::tempdir().unwrap();

    // Throws in on_refresh: the canary thread's refreshes fail.
    let bad = service("Purr").replace(
        "fn on_refresh(action) {",
        "fn on_refresh(action) { throw \"broken refresh\";",
    );
    let bad = pack(root.path(), "bad", &bad, "3.0.0", None);
    let dir = svc.path().display().to_string();
    let mut running = Command::new(binary())
        .args([
            "deploy",
            bad.to_str().unwrap(),
            "--canary",
            "10%",
            "--window",
            "60s",
            "--dir",
            &dir,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The canary thread's channel gets the new version (its on_reload ran).
    wait_sees(&c, &a[0], &canary_ch, &[&a[0], "Purr", &a[1]]).await;
    assert_eq!(
        sees(&c, &b[0], &other_ch),
        [&b[0], "Meow", &b[1]],
        "only the canary moved"
    );
    // Another deploy meanwhile is refused.
    let (code, _, err) = deploy(&svc, &[bad.to_str().unwrap()]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("in progress"), "{err}");
    let exited = wait_for("the canary is rolled back by itself", || {
        let done = running.try_wait().unwrap();
        let c = c.clone();
        let (member, ch) = (a[0].clone(), canary_ch.clone());
        async move {
            if done.is_none() {
                let _ = c.act(&member, &ch, "refresh").await;
            }
            done
        }
    })
    .await;
    let output = running.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(exited.code(), Some(1), "{out}\n{}", host.log());
    assert!(out.contains("rolled back: handler errors"), "{out}");
    // Back on the old version, `this` and all: it answers refreshes again.
    refresh_until(&c, &a[0], &canary_ch, &[&a[0], "Meow", &a[1]]).await;

    // A good canary is promoted after its window, everywhere.
    let good = pack(root.path(), "good", &service("Purr"), "3.1.0", None);
    let (code, out, err) = deploy(
        &svc,
        &[good.to_str().unwrap(), "--canary", "10%", "--window", "1s"],
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}\n{}", host.log());
    assert!(out.contains("canary: script thread(s) 0 of 4"), "{out}");
    wait_sees(&c, &b[0], &other_ch, &[&b[0], "Purr", &b[1]]).await;
    wait_sees(&c, &a[1], &canary_ch, &[&a[1], "Purr", &a[0]]).await;
    let (_, list, _) = deploy(&svc, &["list", "--json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["outcome"], "promoted", "{list}");
    assert_eq!(list[0]["canary_pct"], 10);
    assert_eq!(list[1]["outcome"], "rolled_back");

    // `deploy --rollback` during a canary ends it at once.
    let hiss = pack(root.path(), "hiss", &service("Hiss"), "3.2.0", None);
    let mut running = Command::new(binary())
        .args([
            "deploy",
            hiss.to_str().unwrap(),
            "--canary",
            "10%",
            "--window",
            "10m",
            "--dir",
            &dir,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_sees(&c, &a[0], &canary_ch, &[&a[0], "Hiss", &a[1]]).await;
    let (url, token) = admin_endpoint(svc.path()).await;
    let status: Value = serde_json::from_str(&get(&format!("{url}/status"), &token).await).unwrap();
    assert_eq!(status["deploy"]["state"], "canary", "{status}");
    let threads = &status["script"]["thread_versions"];
    assert_eq!(
        (
            threads[0]["version"].as_str(),
            threads[1]["version"].as_str()
        ),
        (Some("3.2.0"), Some("3.1.0")),
        "{status}"
    );
    let (code, out, err) = deploy(&svc, &["--rollback"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("by the operator"), "{out}");
    wait_sees(&c, &a[0], &canary_ch, &[&a[0], "Purr", &a[1]]).await;
    let cli_ended = wait_for("the canary's command ends", || {
        let done = running.try_wait().unwrap();
        async move { done }
    })
    .await;
    assert_eq!(cli_ended.code(), Some(1), "the canary was rolled back");
    sandbox.shutdown().await;
}
