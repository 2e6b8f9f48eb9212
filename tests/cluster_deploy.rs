//! Deploys to a running cluster (docs/DEPLOY.md, "A cluster"): three real
//! nodes on a real redis-server and the sandbox, one cluster reused across
//! the cases to keep the file fast. Signed bundles where the nodes trust a
//! key: a good one is deployed (every node on it; members see the new
//! version after the epoch), an unsigned one is refused (a veto naming the
//! node), a broken one is vetoed (nothing changes), a canary whose
//! handlers throw is rolled back by itself, and `kill -9` of a node
//! mid-rollout still ends in one version everywhere.

mod cluster_support;
mod common;
mod store_support;
use cluster_support::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use store_support::redis;

/// The tutorial with the other members before Meow: a member sees which
/// version answered.
fn v2() -> String {
    let from = "this.members[channel_id].view_for(member_id, [this.meow])";
    let to = "this.members[channel_id].view_for(member_id, []) + [this.meow]";
    let v1 = tutorial();
    assert!(v1.contains(from), "the tutorial's view line changed: {v1}");
    v1.replace(from, to)
}

/// A bundle of `svc` with `script` as its entry, version `version`,
/// signed with `key` when given.
fn pack(svc: &ServiceDir, script: &str, version: &str, key: Option<&Path>) -> PathBuf {
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

/// `moobius-host deploy ARGS --dir DIR --cluster URL`: (exit code, stdout+stderr).
fn deploy(svc: &ServiceDir, url: &str, args: &[&str]) -> (Option<i32>, String) {
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
fn versions(svc: &ServiceDir, url: &str) -> Vec<String> {
    let out = cluster_status(svc, url, true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    report["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["deploy"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_to_a_running_cluster() {
    let Some(server) = redis() else { return };
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    c.create_user("alice");
    c.create_user("bob");
    // Enough channels that every node owns some (a canary sees calls).
    let mut channels = Vec::new();
    for i in 0..8 {
        let ch = c.create_channel(&format!("room-{i}"));
        c.act("alice", &ch, "join").await.unwrap();
        c.act("bob", &ch, "join").await.unwrap();
        channels.push(ch);
    }
    let ch = channels[0].clone();
    let ids: Vec<&str> = channels.iter().map(String::as_str).collect();
    let svc = cluster_service(&sandbox, &ids, &tutorial(), 1_000).await;
    let base = svc.path().join("release");
    let kg = Command::new(binary())
        .args(["bundle", "keygen", base.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(kg.status.success());
    let key = base.with_extension("key");
    let public = std::fs::read_to_string(base.with_extension("pub")).unwrap();
    let line = public
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    svc.set_service_key("trusted_keys", serde_json::json!([line]));
    let mut nodes = vec![
        node(&svc, &server.url),
        node(&svc, &server.url),
        node(&svc, &server.url),
    ];
    all_ready(&nodes).await;
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;

    // A good, signed bundle: every node on it, members see it.
    let good = pack(&svc, &v2(), "2.0.0", Some(&key));
    let started = Instant::now();
    let (code, out) = deploy(&svc, &server.url, &[good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("committed: 3 node(s) run it"), "{out}");
    let id = out
        .split("deploy ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    println!(
        "deploy to 3 nodes: {} ms; {out}",
        started.elapsed().as_millis()
    );
    assert_eq!(versions(&svc, &server.url), vec![id.clone(); 3]);
    refresh_until(&c, "alice", &ch, &["alice", "bob", "Meow"]).await;

    // Unsigned where keys are trusted: vetoed, naming a node and why.
    let unsigned = pack(&svc, &tutorial(), "2.0.1", None);
    let (code, out) = deploy(&svc, &server.url, &[unsigned.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("vetoed by node"), "{out}");
    assert!(out.contains("bundle refused"), "{out}");

    // A broken one (its `this` migration throws): vetoed with the error
    // from the dry run, nothing changes.
    let script = tutorial() + "\nfn on_reload() { throw \"migration failed\"; }\n";
    let broken = pack(&svc, &script, "2.0.2", Some(&key));
    let (code, out) = deploy(&svc, &server.url, &[broken.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("vetoed by node"), "{out}");
    assert!(out.contains("migration failed"), "{out}");
    assert_eq!(versions(&svc, &server.url), vec![id.clone(); 3]);
    refresh_until(&c, "alice", &ch, &["alice", "bob", "Meow"]).await;

    // A canary whose handlers throw: rolled back by itself.
    let throwing = v2().replace(
        "fn on_refresh(action) {",
        "fn on_refresh(action) { throw \"broken refresh\";",
    );
    let bad = pack(&svc, &throwing, "2.1.0", Some(&key));
    let dir = svc.path().display().to_string();
    let mut canary = Command::new(binary())
        .args([
            "deploy",
            bad.to_str().unwrap(),
            "--canary",
            "34%",
            "--window",
            "20s",
        ])
        .args(["--dir", &dir, "--cluster", &server.url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Refreshes on every node's channels until the canary is judged.
    let judged = wait_for("the canary is judged", || {
        let c = c.clone();
        let channels = channels.clone();
        let exited = canary.try_wait().unwrap();
        async move {
            for ch in &channels {
                let _ = c.act("alice", ch, "refresh").await;
            }
            exited
        }
    })
    .await;
    let mut out = String::new();
    std::io::Read::read_to_string(canary.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(judged.code(), Some(1), "{out}");
    assert!(out.contains("rolled back"), "{out}");
    wait_for("the canary nodes went back", || {
        let back = versions(&svc, &server.url) == vec![id.clone(); 3];
        async move { back.then_some(()) }
    })
    .await;

    // kill -9 of a node mid-rollout: one version everywhere at the end.
    let v3 = pack(&svc, &(v2() + "\n// 3.0.0\n"), "3.0.0", Some(&key));
    let dir2 = dir.clone();
    let url2 = server.url.clone();
    let v3s = v3.to_str().unwrap().to_string();
    let rollout = std::thread::spawn(move || {
        Command::new(binary())
            .args(["deploy", &v3s, "--canary", "34%", "--window", "3s"])
            .args(["--dir", &dir2, "--cluster", &url2])
            .output()
            .unwrap()
    });
    wait_for("the canary runs", || {
        let out = cluster_status(&svc, &server.url, true);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let canary = r["deploy"]["state"] == "canary";
        async move { canary.then_some(()) }
    })
    .await;
    nodes[0].kill();
    let out = rollout.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let v3_id = text
        .split("deploy ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    wait_for("the two left run v3", || {
        let v = versions(&svc, &server.url);
        let done = v.len() == 2 && v.iter().all(|x| *x == v3_id);
        async move { done.then_some(()) }
    })
    .await;

    // `deploy list` shows them all, newest first.
    let (code, out) = deploy(&svc, &server.url, &["list"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(out.lines().next().unwrap().contains("committed"), "{out}");
    sandbox.shutdown().await;
}

/// The figures of docs/DEPLOY.md ("A cluster"): 3 nodes, 64 partitions,
/// 32 channels; five deploys of alternating versions while members
/// refresh. Prints the command-to-last-swap and first-to-last swap times
/// and the refresh latency during the deploys. A measurement, not a check:
/// `cargo test --test cluster_deploy -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn deploy_figures() {
    let Some(server) = redis() else { return };
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    c.create_user("alice");
    let mut channels = Vec::new();
    for i in 0..32 {
        let ch = c.create_channel(&format!("room-{i}"));
        c.act("alice", &ch, "join").await.unwrap();
        channels.push(ch);
    }
    let ids: Vec<&str> = channels.iter().map(String::as_str).collect();
    let svc = cluster_service(&sandbox, &ids, &tutorial(), 3_000).await;
    svc.set_config_key(
        "cluster",
        serde_json::json!({"redis_url": "redis://unused", "partitions": 64, "lease_ms": 3000}),
    );
    let nodes = vec![
        node(&svc, &server.url),
        node(&svc, &server.url),
        node(&svc, &server.url),
    ];
    all_ready(&nodes).await;
    for ch in &channels {
        wait_sees(&c, "alice", ch, &["alice", "Meow"]).await;
    }
    let bundles = [
        pack(&svc, &v2(), "2.0.0", None),
        pack(&svc, &tutorial(), "2.0.1", None),
    ];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let driver = {
        let (c, channels, stop) = (c.clone(), channels.clone(), stop.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let ch = &channels[i % channels.len()];
                i += 1;
                let t = Instant::now();
                refresh_answered(&c, "alice", ch, "a refresh is answered").await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        })
    };
    let (mut total, mut spread) = (Vec::new(), Vec::new());
    for round in 0..6 {
        let file = &bundles[round % 2];
        let (code, out) = deploy(&svc, &server.url, &[file.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{out}");
        let line = out.lines().find(|l| l.starts_with("committed:")).unwrap();
        let num = |after: &str| -> f64 {
            line.split(after)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap()
        };
        total.push(num("run it, "));
        spread.push(num("last swap "));
        println!("{line}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut lat = driver.await.unwrap();
    lat.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    spread.sort_by(f64::total_cmp);
    let at = |v: &[f64], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "FIGURES deploys={} command->last swap median {:.0} ms max {:.0} ms; first->last swap median {:.0} ms max {:.0} ms; refreshes={} p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        total.len(), at(&total, 0.5), at(&total, 1.0), at(&spread, 0.5), at(&spread, 1.0),
        lat.len(), at(&lat, 0.5), at(&lat, 0.99), at(&lat, 1.0)
    );
    sandbox.shutdown().await;
}
