//! Takeover times of a cluster: three `moobius-host` nodes serving the
//! tutorial through a local `redis-server` and the sandbox; KILLS times,
//! `kill -9` of the gateway (or of another node), measuring
//!
//! - **lease**: kill -> Redis shows another node holding the gateway
//!   lease (gateway kills only);
//! - **served**: kill -> a member of a channel the dead node served gets
//!   an answer to a refresh again (a refresh sent in the gap is lost, so
//!   one is sent every 50 ms until one is answered).
//!
//! After each kill a new node is started and the next kill waits until
//! every partition has an owner again. That join moves partitions to the
//! new node, so it is measured too:
//!
//! - **join**: while the new node starts and takes its share, every
//!   channel's member refreshes in a loop; the longest any refresh waited
//!   for its answer, from the start of the node until the partitions
//!   are spread and a second more.
//!
//! `cargo build --release --examples && ./target/release/examples/cluster_takeover [KILLS [gateway|worker [LEASE_MS]]]`
//!
//! Not a test: the figures depend on the machine.

#[path = "support/redis_server.rs"]
mod redis_server;

use anyhow::{bail, Context, Result};
use moobius_host::cluster::report;
use moobius_host::cluster::wire::partition_of;
use moobius_host::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PARTITIONS: usize = 16;
const CHANNELS: usize = 32;

struct Cluster {
    dir: tempfile::TempDir,
    url: String,
    service_id: String,
    nodes: Vec<Child>,
}

impl Cluster {
    fn spawn_node(&mut self) -> Result<()> {
        let log = std::fs::File::create(
            self.dir
                .path()
                .join(format!("node-{}.log", self.nodes.len())),
        )?;
        let child = Command::new(binary()?)
            .args(["run", "--no-watch", "--dir"])
            .arg(self.dir.path())
            .args(["--cluster", &self.url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.nodes.push(child);
        Ok(())
    }

    fn report(&self) -> Result<report::Report> {
        Ok(report::read(&self.url, &self.service_id, PARTITIONS)?)
    }

    /// The running node whose name carries `pid`.
    fn index_of(&self, node: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|c| node.contains(&format!("-{}-", c.id())))
    }

    /// Waits until three nodes are live, each holding its even share,
    /// and every partition and the gateway have a holder.
    async fn settled(&self) -> Result<report::Report> {
        let started = Instant::now();
        loop {
            if let Ok(r) = self.report() {
                let share = PARTITIONS / 3;
                let spread = r.nodes.iter().all(|m| r.owned_by(&m.node) >= share);
                if r.nodes.len() == 3 && r.unowned() == 0 && r.gateway.is_some() && spread {
                    return Ok(r);
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the cluster did not settle");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(Path::parent).context("no parent")?;
    let bin = dir.join("moobius-host");
    if !bin.exists() {
        bail!("{} not found: cargo build --release first", bin.display());
    }
    Ok(bin)
}

async fn setup(
    sandbox: &Sandbox,
    redis: &str,
    lease_ms: u64,
) -> Result<(Cluster, Vec<(String, String)>)> {
    let c = sandbox.control();
    let mut channels = Vec::new();
    for i in 0..CHANNELS {
        let ch = c.create_channel(&format!("room-{i}"));
        let user = c.create_user(&format!("u{i}")).user_id;
        c.act(&user, &ch, "join").await?;
        channels.push((ch, user));
    }
    let dir = tempfile::tempdir()?;
    let p = dir.path();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(p.join("scripts"))?;
    std::fs::create_dir_all(p.join("resources"))?;
    std::fs::create_dir_all(p.join("config"))?;
    std::fs::copy(
        repo.join("scripts/service.rhai"),
        p.join("scripts/service.rhai"),
    )?;
    std::fs::copy(
        repo.join("resources/avatar.png"),
        p.join("resources/avatar.png"),
    )?;
    let email = format!("takeover-{}@bench.local", uuid::Uuid::new_v4());
    let http = moobius_host::platform::HttpApi::new(
        &sandbox.http_url(),
        &email,
        moobius_host::config::Secret::new("bench"),
    )?;
    http.sign_in().await?;
    let service_id = http.create_service("takeover bench").await?;
    let ids: Vec<&str> = channels.iter().map(|(ch, _)| ch.as_str()).collect();
    let config = serde_json::json!({
        "account_config": {"email": email, "password": "bench"},
        "service_config": {"http_server_uri": sandbox.http_url(), "ws_server_uri": sandbox.ws_url(),
                           "service_id": service_id, "channels": ids, "checkin_interval": 0,
                           "reconnect_min_ms": 20, "reconnect_max_ms": 200},
        "log_config": {"terminal_log_level": "INFO"},
        "cluster": {"redis_url": redis, "partitions": PARTITIONS, "lease_ms": lease_ms}
    });
    std::fs::write(
        p.join("config/config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    let mut cluster = Cluster {
        dir,
        url: redis.to_string(),
        service_id,
        nodes: Vec::new(),
    };
    for _ in 0..3 {
        cluster.spawn_node()?;
    }
    Ok((cluster, channels))
}

/// Refreshes in every channel, one at a time per channel, until `until`
/// is set; the longest wait for an answer.
async fn longest_wait(
    c: &SandboxControl,
    channels: &[(String, String)],
    until: tokio::sync::watch::Receiver<bool>,
) -> Duration {
    let probes = channels.iter().map(|(ch, user)| {
        let (c, ch, user, mut until) = (c.clone(), ch.clone(), user.clone(), until.clone());
        async move {
            let mut longest = Duration::ZERO;
            while !*until.borrow_and_update() {
                let before = c.view(&user, &ch).map(|v| v.version).unwrap_or(0);
                let sent = Instant::now();
                if c.act(&user, &ch, "refresh").await.is_err() {
                    // The sandbox refused it (it should not): not a wait
                    // to measure, and no reason to spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                while c.view(&user, &ch).map(|v| v.version).unwrap_or(0) <= before
                    && sent.elapsed() < Duration::from_secs(30)
                {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                longest = longest.max(sent.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            longest
        }
    });
    futures_util::future::join_all(probes)
        .await
        .into_iter()
        .max()
        .unwrap_or_default()
}

/// Starts a node and measures [`longest_wait`] while it joins.
async fn join_measured(
    cluster: &mut Cluster,
    c: &SandboxControl,
    channels: &[(String, String)],
) -> Result<Duration> {
    let (stop, until) = tokio::sync::watch::channel(false);
    let probing = longest_wait(c, channels, until);
    let joining = async {
        cluster.spawn_node()?;
        cluster.settled().await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = stop.send(true);
        anyhow::Ok(())
    };
    let (longest, joined) = tokio::join!(probing, joining);
    joined?;
    Ok(longest)
}

/// Refreshes every 50 ms until one is answered; the time from `since`.
async fn answered_again(
    c: &SandboxControl,
    user: &str,
    ch: &str,
    since: Instant,
) -> Result<Duration> {
    loop {
        let before = c.view(user, ch).map(|v| v.version).unwrap_or(0);
        let _ = c.act(user, ch, "refresh").await;
        let sent = Instant::now();
        while sent.elapsed() < Duration::from_millis(50) {
            if c.view(user, ch).map(|v| v.version).unwrap_or(0) > before {
                return Ok(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if since.elapsed() > Duration::from_secs(60) {
            bail!("no answer within 60 s");
        }
    }
}

fn summary(name: &str, mut d: Vec<Duration>) {
    if d.is_empty() {
        return;
    }
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    println!(
        "{name}: p50 {:.0} ms, max {:.0} ms, min {:.0} ms ({} kills)",
        ms(d[d.len() / 2]),
        ms(d[d.len() - 1]),
        ms(d[0]),
        d.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let kills: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let gateway = args.get(2).is_none_or(|a| a == "gateway");
    let lease_ms: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3000);
    moobius_host::platform::ensure_crypto_provider();
    let redis = redis_server::RedisServer::start()?;
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let c = sandbox.control();
    let (mut cluster, channels) = setup(&sandbox, &redis.url, lease_ms).await?;
    let (mut leases, mut served, mut joins) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..kills {
        let r = cluster.settled().await?;
        let gw = r
            .gateway
            .as_ref()
            .map(|g| g.node.clone())
            .unwrap_or_default();
        let victim_node = if gateway {
            gw.clone()
        } else {
            r.nodes
                .iter()
                .map(|m| m.node.clone())
                .find(|n| *n != gw)
                .unwrap_or_default()
        };
        let victim = cluster
            .index_of(&victim_node)
            .context("the victim is one of ours")?;
        // A channel whose partition the victim owns (any, for a gateway).
        let theirs = |p: usize| {
            r.partitions[p]
                .owner
                .as_ref()
                .is_some_and(|o| o.node == victim_node)
        };
        let (ch, user) = channels
            .iter()
            .find(|(ch, _)| gateway || theirs(partition_of(ch, PARTITIONS)))
            .cloned()
            .context("a channel to watch")?;
        let mut dead = cluster.nodes.remove(victim);
        let _ = dead.kill();
        let killed = Instant::now();
        let _ = dead.wait();
        if gateway {
            loop {
                let new = cluster
                    .report()
                    .ok()
                    .and_then(|r| r.gateway)
                    .map(|g| g.node);
                if new.is_some_and(|n| n != gw) {
                    leases.push(killed.elapsed());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        served.push(answered_again(&c, &user, &ch, killed).await?);
        eprintln!(
            "kill {}: served again after {:?}",
            k + 1,
            served[served.len() - 1]
        );
        joins.push(join_measured(&mut cluster, &c, &channels).await?);
        eprintln!(
            "join {}: longest refresh wait {:?}",
            k + 1,
            joins[joins.len() - 1]
        );
    }
    println!("cluster_takeover: {kills} kills of the {}, lease_ms {lease_ms}, 3 nodes, {PARTITIONS} partitions, {CHANNELS} channels", if gateway { "gateway" } else { "node that is not the gateway" });
    summary("new gateway holds the lease", leases);
    summary("a refresh is answered again", served);
    summary("longest refresh wait while a new node joins", joins);
    drop(cluster);
    sandbox.shutdown().await;
    Ok(())
}
