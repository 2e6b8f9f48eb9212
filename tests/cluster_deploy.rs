//! Deploys to a running cluster (docs/DEPLOY.md, "A cluster"): three real
//! nodes on a real redis-server and the sandbox, one cluster reused across
//! the cases to keep the file fast. Signed bundles where the nodes trust a
//! key: a good one is deployed (every node on it, shown by `cluster
//! status` and a node's `/status` and metrics; members see the new
//! version after the epoch), an unsigned one is refused (a veto naming the
//! node), a broken one and one over the nodes' `--max-unpacked-mib` are
//! vetoed (nothing changes), a second deploy while one runs is refused
//! (its bundle not left in Redis), a canary whose
//! handlers throw is rolled back by itself, `kill -9` of a canary node
//! (the set `cluster status` shows) or of the gateway mid-rollout still
//! ends in one version everywhere, and `deploy --rollback` after a
//! commit brings every node back to the version before.

mod cluster_support;
mod common;
mod store_support;
use cluster_support::deploys::*;
use cluster_support::*;
use common::*;
use moobius_host::sandbox::SandboxControl;
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

/// A node whose bundles may hold at most 1 MiB (`run --max-unpacked-mib 1`).
fn limited_node(svc: &ServiceDir, url: &str) -> HostProcess {
    node_with(svc, url, &["--max-unpacked-mib", "1"])
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
    let key = trusted_key(&svc);
    let admin = ["--max-unpacked-mib", "1", "--admin", "127.0.0.1:0"];
    let mut nodes = vec![
        limited_node(&svc, &server.url),
        limited_node(&svc, &server.url),
        node_with(&svc, &server.url, &admin),
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
    admin_shows_the_deploy(&svc, &id).await;
    refresh_until(&c, "alice", &ch, &["alice", "bob", "Meow"]).await;

    vetoes(&svc, &server.url, &key, &id);
    refresh_until(&c, "alice", &ch, &["alice", "bob", "Meow"]).await;

    // A canary whose handlers throw: rolled back by itself.
    a_throwing_canary_rolls_back(&c, &channels, &svc, &server.url, &key, &id).await;

    // kill -9 of a canary node mid-rollout, a new node in its place: one
    // version everywhere at the end.
    let v3 = pack(&svc, &(v2() + "\n// 3.0.0\n"), "3.0.0", Some(&key));
    let v3_id = kill_a_canary_node_mid_rollout(&svc, &server.url, &mut nodes, &v3).await;

    // `deploy --rollback` after a commit: every node back on 2.0.0.
    roll_back_after_a_commit(&svc, &server.url, &id, &v3_id);
    refresh_until(&c, "alice", &ch, &["alice", "bob", "Meow"]).await;

    // kill -9 of the gateway mid-rollout: committed on the others, and
    // members answered (by the new version) once a new gateway serves.
    let v4 = pack(&svc, &(tutorial() + "\n// 4.0.0\n"), "4.0.0", Some(&key));
    let v4_id = kill_the_gateway_mid_rollout(&svc, &server.url, &mut nodes, &v4).await;
    for ch in &channels {
        refresh_until(&c, "alice", ch, &["alice", "Meow", "bob"]).await;
    }

    // `deploy list` shows them all, newest first.
    let (code, out) = deploy(&svc, &server.url, &["list"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().count(), 7, "{out}");
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with(&v4_id) && first.contains("committed"),
        "{out}"
    );
    sandbox.shutdown().await;
}

/// The node run with `--admin` shows deploy `id` in `/status` (`deploy`,
/// every script thread's version) and in `moobius_version_info`.
async fn admin_shows_the_deploy(svc: &ServiceDir, id: &str) {
    let read = |f: &str| std::fs::read_to_string(svc.path().join(f)).unwrap_or_default();
    let (url, token) = (read("data/admin.url"), read("data/admin.token"));
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{}{path}", url.trim()))
            .bearer_auth(token.trim())
            .send()
    };
    // The node records its version in Redis just before its `/status`.
    let status: serde_json::Value = wait_for("/status shows the deploy", || async {
        let status: serde_json::Value = get("/status").await.ok()?.json().await.ok()?;
        (status["deploy"]["id"] == id).then_some(status)
    })
    .await;
    assert_eq!(status["deploy"]["version"], "2.0.0", "{status}");
    let threads = status["script"]["thread_versions"].as_array().cloned();
    let threads = threads.unwrap_or_default();
    assert!(!threads.is_empty(), "{status}");
    assert!(threads.iter().all(|t| t["deploy_id"] == id), "{status}");
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    let runs = metrics.lines().any(|l| {
        l.starts_with("moobius_version_info{")
            && l.contains(&format!("deploy_id=\"{id}\""))
            && l.ends_with(" 1")
    });
    assert!(runs, "{metrics}");
}

/// Makes a signing key, and has the nodes trust it (before they start);
/// the private key's file.
fn trusted_key(svc: &ServiceDir) -> PathBuf {
    let base = svc.path().join("release");
    let kg = Command::new(binary())
        .args(["bundle", "keygen", base.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(kg.status.success());
    let public = std::fs::read_to_string(base.with_extension("pub")).unwrap();
    let line = public
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    svc.set_service_key("trusted_keys", serde_json::json!([line]));
    base.with_extension("key")
}

/// Bundles the nodes refuse: unsigned, one whose `on_reload` throws, one
/// over their bundle limits. Each is vetoed naming a node and why, and
/// every node stays on deploy `id`.
fn vetoes(svc: &ServiceDir, url: &str, key: &Path, id: &str) {
    // Unsigned where keys are trusted: vetoed, naming a node and why.
    let unsigned = pack(svc, &tutorial(), "2.0.1", None);
    let (code, out) = deploy(svc, url, &[unsigned.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("vetoed by node"), "{out}");
    assert!(out.contains("bundle refused"), "{out}");

    // A broken one (its `this` migration throws): vetoed with the error
    // from the dry run, nothing changes.
    let script = tutorial() + "\nfn on_reload() { throw \"migration failed\"; }\n";
    let broken = pack(svc, &script, "2.0.2", Some(key));
    let (code, out) = deploy(svc, url, &[broken.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("vetoed by node"), "{out}");
    assert!(out.contains("migration failed"), "{out}");
    assert_eq!(versions(svc, url), vec![id.to_string(); 3]);

    // Over the nodes' `--max-unpacked-mib 1` (within the defaults, which
    // the command checks): vetoed by the nodes' own limits.
    let big = pack_with(
        svc,
        &v2(),
        "2.0.3",
        Some(key),
        &[("resources/filler.bin", noise(2 << 20))],
    );
    let (code, out) = deploy(svc, url, &[big.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("bundle refused: more than 1048576 bytes unpacked"),
        "{out}"
    );
    assert_eq!(versions(svc, url), vec![id.to_string(); 3]);
}

/// Deploys a version whose `on_refresh` throws as a canary while members
/// refresh on every channel: it is rolled back by itself, and every node
/// goes back to deploy `id`.
async fn a_throwing_canary_rolls_back(
    c: &SandboxControl,
    channels: &[String],
    svc: &ServiceDir,
    url: &str,
    key: &Path,
    id: &str,
) {
    let throwing = v2().replace(
        "fn on_refresh(action) {",
        "fn on_refresh(action) { throw \"broken refresh\";",
    );
    let bad = pack(svc, &throwing, "2.1.0", Some(key));
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
        .args(["--dir", &dir, "--cluster", url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs, another deploy is refused and leaves nothing behind.
    canary_runs(svc, url).await;
    assert!(bundle_stored(url, &bad), "the canary's bundle is in Redis");
    let other = pack(svc, &(v2() + "\n// refused\n"), "2.1.1", Some(key));
    let (code, text) = deploy(svc, url, &[other.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("in progress"), "{text}");
    assert!(
        !bundle_stored(url, &other),
        "the refused deploy's bundle stayed in Redis"
    );
    // Refreshes on every node's channels until the canary is judged.
    let judged = wait_for("the canary is judged", || {
        let c = c.clone();
        let channels = channels.to_vec();
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
        let back = versions(svc, url) == vec![id.to_string(); 3];
        async move { back.then_some(()) }
    })
    .await;
}

/// Whether Redis holds the bundle `file` (stored under its SHA-256).
fn bundle_stored(url: &str, file: &Path) -> bool {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(file).unwrap()));
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*:bundle:{sha}"))
        .query(&mut conn)
        .unwrap();
    !keys.is_empty()
}

/// `deploy --rollback` after deploy `v3_id` committed: every node goes
/// back to deploy `id`, the one before, and `deploy list` shows `v3_id`
/// rolled back by the operator.
fn roll_back_after_a_commit(svc: &ServiceDir, url: &str, id: &str, v3_id: &str) {
    let (code, out) = deploy(svc, url, &["--rollback"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("rolled back to deploy {id}")),
        "{out}"
    );
    assert!(out.contains("committed: 3 node(s) run it"), "{out}");
    assert_eq!(versions(svc, url), vec![id.to_string(); 3]);
    let (code, out) = deploy(svc, url, &["list"]);
    assert_eq!(code, Some(0), "{out}");
    let line = |id: &str| out.lines().find(|l| l.starts_with(id)).unwrap_or("");
    assert!(
        line(v3_id).contains("rolled_back rolled back by the operator"),
        "{out}"
    );
    assert!(line(id).contains("committed"), "{out}");
}

/// Deploys `file` with a canary, checks that `cluster status` shows the
/// canary's stored node set, kills one of those nodes and starts a new
/// one in its place: the deploy commits, and all three end on it (the new
/// node from its start). The deploy's id.
async fn kill_a_canary_node_mid_rollout(
    svc: &ServiceDir,
    url: &str,
    nodes: &mut [HostProcess],
    file: &Path,
) -> String {
    let running = rollout(svc, url, file, "3s");
    let report = canary_runs(svc, url).await;
    let on: Vec<String> = report["deploy"]["canary_nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    assert_eq!(on.len(), 2, "34% of 3 nodes, rounded up: {report}");
    let text = String::from_utf8_lossy(&cluster_status(svc, url, false).stdout).to_string();
    assert!(
        text.contains(&format!("canary on {}", on.join(", "))),
        "{text}"
    );
    let victim = index_of(nodes, &on[0]);
    nodes[victim].kill();
    nodes[victim] = limited_node(svc, url);
    let id = committed(running.join().unwrap());
    all_run(svc, url, 3, &id).await;
    id
}

/// Deploys `file` with a canary and kills the gateway node while it
/// runs: the deploy commits on the two left. The deploy's id.
async fn kill_the_gateway_mid_rollout(
    svc: &ServiceDir,
    url: &str,
    nodes: &mut [HostProcess],
    file: &Path,
) -> String {
    let running = rollout(svc, url, file, "2s");
    let report = canary_runs(svc, url).await;
    let gateway = report["gateway"]["node"].as_str().unwrap_or_default();
    let victim = index_of(nodes, gateway);
    nodes[victim].kill();
    let id = committed(running.join().unwrap());
    all_run(svc, url, 2, &id).await;
    id
}

/// The figures of docs/DEPLOY.md ("A cluster"): 3 nodes, 64 partitions,
/// 32 channels; six deploys of alternating versions while members
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
