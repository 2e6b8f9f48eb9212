//! A service directory against a sandbox that restarts: `run` with a
//! service id the platform does not know stops at once (exit 2, one line
//! saying what to do) instead of reconnecting for ever, and `sandbox
//! --service DIR` points a directory at a fresh sandbox.

mod common;
use common::{binary, wait_for, HostProcess};
use std::path::Path;
use std::process::Command;

/// The golden line for a stale service id in `DIR/config/service.json`.
fn stale_line(dir: &str, email: &str) -> String {
    format!(
        "error: {dir}/config/service.json: service_id \"0b5e1e7e-stale\" is not a service of {email} on this platform (a sandbox keeps nothing across restarts): set it to \"\" to create a new service, and check `channels` (`moobius-host sandbox --service DIR` points a directory at a fresh sandbox)"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_service_id_exits_2_with_one_line_instead_of_retrying() {
    let sandbox = common::start_sandbox().await;
    let channel = sandbox.control().create_channel("lobby");
    let svc = common::ServiceDir::new(&sandbox, &[&channel]);
    svc.set_service_key("service_id", "0b5e1e7e-stale".into());
    let dir = svc.path().display().to_string();
    // Waits with the tests' deadline: a host that retried would fail here.
    let mut host = HostProcess::spawn(&["run", "--no-watch", "--dir", &dir], svc.path());
    let status = host.exited().await;
    let stderr = host.log();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(last, stale_line(&dir, &svc.email()), "{stderr}");
    assert!(
        !stderr.contains("reconnecting"),
        "it stops before connecting: {stderr}"
    );
    sandbox.shutdown().await;
}

/// Starts `moobius-host sandbox` (on `listen`) seeding `dir`; returns it
/// and its HTTP URL once its ready file exists, which is after the seeding.
async fn seeding_sandbox(root: &Path, dir: &Path, listen: &str) -> (HostProcess, String) {
    let ready = root.join(format!("ready-{}.json", uuid::Uuid::new_v4()));
    let args = [
        "sandbox",
        "--listen",
        listen,
        "--ready-file",
        &ready.display().to_string(),
        "--service",
        &dir.display().to_string(),
    ];
    let process = HostProcess::spawn_in(&args, root, Some(root));
    let url = wait_for("the sandbox is ready", || {
        let text = std::fs::read_to_string(&ready).ok();
        async move {
            let v: serde_json::Value = serde_json::from_str(&text?).ok()?;
            Some(v["http"].as_str()?.to_string())
        }
    })
    .await;
    (process, url)
}

/// Joins alice to `lobby` (by the channel's name) and waits until she sees
/// herself and Meow, through the control API as a client would.
async fn alice_joins_and_sees_meow(url: &str) {
    let http = reqwest::Client::new();
    let join = serde_json::json!({"user": "alice", "channel_id": "lobby", "action": "join"});
    wait_for("the service serves the lobby", || {
        let request = http.post(format!("{url}sandbox/act")).json(&join);
        async move {
            let v: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
            (v["delivered"] == true).then_some(())
        }
    })
    .await;
    wait_for("alice sees alice, Meow", || {
        let request = http.get(format!("{url}sandbox/view?user=alice&channel_id=lobby"));
        async move {
            let v: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
            let names: Vec<&str> = v["characters"]
                .as_array()?
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            (names == ["alice", "Meow"]).then_some(())
        }
    })
    .await;
}

fn config(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config/config.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_service_points_a_new_service_at_it_again_after_each_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = tempfile::tempdir().unwrap();
    let made = Command::new(binary())
        .args(["new", "hello"])
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let dir = root.path().join("hello");

    let (mut first, url) = seeding_sandbox(root.path(), &dir, "127.0.0.1:0").await;
    let seeded = config(&dir);
    assert_eq!(seeded["service_config"]["http_server_uri"], url.as_str());
    assert_eq!(seeded["service_config"]["service_id"], "");
    assert_eq!(seeded["account_config"]["email"], "service@sandbox.local");
    let run = || {
        HostProcess::spawn(
            &["run", "--no-watch", "--dir", &dir.display().to_string()],
            root.path(),
        )
    };
    let mut host = run();
    alice_joins_and_sees_meow(&url).await;
    let served = config(&dir);
    assert_ne!(
        served["service_config"]["service_id"], "",
        "run saved its new service"
    );
    host.terminate();
    assert!(host.exited().await.success(), "{}", host.log());

    // The sandbox restarts on the same address: it knows nothing, and the
    // seeding makes the directory right again.
    first.terminate();
    first.exited().await;
    let addr = common::host_port(&url);
    let (_second, url2) = seeding_sandbox(root.path(), &dir, &addr).await;
    assert_eq!(url2, url);
    let reseeded = config(&dir);
    assert_eq!(reseeded["service_config"]["service_id"], "");
    assert_ne!(
        reseeded["service_config"]["channels"], served["service_config"]["channels"],
        "a new channel"
    );
    let mut host = run();
    alice_joins_and_sees_meow(&url).await;
    host.assert_running("against the re-seeded sandbox");
}
