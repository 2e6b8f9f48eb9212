//! The services under test, as child processes: the host running the
//! tutorial's `scripts/service.rhai`, or the Python SDK running the
//! tutorial's `service.py`. Both get the same sandbox, the same config shape
//! and no terminal logging; `/proc` gives their peak memory and CPU time.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Host,
    Python,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Host => "host",
            Target::Python => "python",
        }
    }
}

pub struct Service {
    child: Child,
    /// A cluster's other nodes (`--cluster N`).
    others: Vec<Child>,
    /// A cluster's Redis and service id.
    cluster: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// Serve through a cluster of `nodes` processes and this Redis.
#[derive(Debug, Clone)]
pub struct ClusterLaunch {
    pub url: String,
    pub nodes: usize,
}

/// Everything needed to start a service against one sandbox.
pub struct Launch<'a> {
    pub repo: &'a Path,
    pub http: &'a str,
    pub ws: &'a str,
    /// For the Python SDK (it only speaks `wss://`).
    pub wss: Option<&'a str>,
    pub python: Option<&'a Path>,
    /// The host's `script_threads`.
    pub script_threads: usize,
    /// Run the host as a cluster.
    pub cluster: Option<ClusterLaunch>,
    /// A command the host runs under, e.g. `valgrind --tool=callgrind`
    /// (`host_profile`); empty for the host alone.
    pub wrapper: &'a [String],
}

impl Launch<'_> {
    pub async fn start(&self, target: Target, channels: &[String]) -> Result<Service> {
        let dir = tempfile::tempdir()?;
        let p = dir.path();
        std::fs::create_dir_all(p.join("resources"))?;
        std::fs::create_dir_all(p.join("config"))?;
        std::fs::copy(
            self.repo.join("resources/avatar.png"),
            p.join("resources/avatar.png"),
        )?;
        let email = format!("bench-{}@bench.local", uuid::Uuid::new_v4());
        let ws = match target {
            Target::Host => self.ws,
            Target::Python => self
                .wss
                .context("the Python SDK needs the sandbox's TLS listener")?,
        };
        let mut config = serde_json::json!({
            "account_config": {"email": email, "password": "bench"},
            "service_config": {"http_server_uri": self.http, "ws_server_uri": ws, "service_id": "",
                               "channels": channels, "others": "include", "checkin_interval": 0},
            "log_config": {"terminal_log_level": "ERROR", "log_level": "ERROR", "error_log_level": "ERROR"}
        });
        if target == Target::Host {
            config["service_config"]["script_threads"] = self.script_threads.into();
        }
        if !self.wrapper.is_empty() {
            // A profiler slows handlers down some 50 times: a 1,000-member
            // check-in would pass the default 1 s budget.
            config["script_limits"] =
                serde_json::json!({"timeout_ms": 300_000, "compile_timeout_ms": 600_000});
        }
        let mut cluster = None;
        let nodes = match (&self.cluster, target) {
            (Some(c), Target::Host) => {
                // A cluster needs its service up front.
                let http = moobius_host::platform::HttpApi::new(
                    self.http,
                    &email,
                    moobius_host::config::Secret::new("bench"),
                )?;
                http.sign_in().await?;
                let id = http.create_service("bench").await?;
                config["service_config"]["service_id"] = id.clone().into();
                config["cluster"] = serde_json::json!({"redis_url": c.url});
                cluster = Some((c.url.clone(), id));
                c.nodes
            }
            _ => 1,
        };
        std::fs::write(
            p.join("config/config.json"),
            serde_json::to_string_pretty(&config)?,
        )?;
        let mut cmd = match target {
            Target::Host => {
                std::fs::create_dir_all(p.join("scripts"))?;
                std::fs::copy(
                    self.repo.join("scripts/service.rhai"),
                    p.join("scripts/service.rhai"),
                )?;
                let mut c = match self.wrapper.split_first() {
                    Some((program, args)) => {
                        let mut c = Command::new(program);
                        c.args(args).arg(host_binary()?);
                        c
                    }
                    None => Command::new(host_binary()?),
                };
                c.args(["run", "--no-watch", "--dir"]).arg(p);
                c
            }
            Target::Python => {
                std::fs::copy(
                    self.repo.join("tests/python/service.py"),
                    p.join("service.py"),
                )?;
                let mut c = Command::new(self.python.context("no Python with moobius")?);
                c.arg("service.py").current_dir(p);
                c
            }
        };
        if let Ok(level) = std::env::var("BENCH_SERVICE_LOG") {
            cmd.env("RUST_LOG", level);
        }
        cmd.env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // The service's own output goes to a file, read when something fails.
        let mut children = Vec::new();
        for i in 0..nodes {
            let name = if i == 0 {
                "service.log".to_string()
            } else {
                format!("service-{i}.log")
            };
            let log = std::fs::File::create(p.join(name))?;
            let child = cmd
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting the {} service", target.label()))?;
            children.push(child);
        }
        let child = children.remove(0);
        Ok(Service {
            child,
            others: children,
            cluster,
            _dir: dir,
        })
    }
}

/// `moobius-host` of the same build: the benchmark is an example, in
/// `target/<profile>/examples/`, one level below the binary.
fn host_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .context("the benchmark's own path has no parent")?;
    let bin = profile_dir.join("moobius-host");
    if !bin.exists() {
        bail!(
            "{} not found: build it first (cargo build --release)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Resident memory and CPU time of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub peak_rss_kib: u64,
    pub rss_kib: u64,
    pub cpu: Duration,
}

impl Service {
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        std::iter::once(&mut self.child)
            .chain(self.others.iter_mut())
            .all(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// A cluster: waits until every node owns its even share of the
    /// partitions (the first node takes them all, then hands them over)
    /// and the new owners have checked their channels in (no entry of any
    /// stream waiting, three polls in a row): a measurement during the
    /// hand-over would measure the hand-over (with W4's 200 channels of 20,
    /// 4,000 views re-sent by the new owners, through groups they create).
    pub async fn settled(&self) -> Result<()> {
        let Some((url, id)) = &self.cluster else {
            return Ok(());
        };
        let n = self.others.len() + 1;
        let partitions = moobius_host::config::ranges::DEFAULT_CLUSTER_PARTITIONS;
        let started = std::time::Instant::now();
        let mut quiet_polls = 0;
        loop {
            if let Ok(r) = moobius_host::cluster::report::read(url, id, partitions) {
                let even = r.nodes.len() == n
                    && r.unowned() == 0
                    && r.nodes
                        .iter()
                        .all(|m| r.owned_by(&m.node) >= partitions / n);
                quiet_polls = if even && r.idle() { quiet_polls + 1 } else { 0 };
                if quiet_polls == 3 {
                    return Ok(());
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the cluster did not spread its partitions within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Summed over a cluster's nodes.
    pub fn usage(&self) -> Usage {
        let mut u = usage_of(self.pid());
        for other in &self.others {
            let o = usage_of(other.id());
            u.peak_rss_kib += o.peak_rss_kib;
            u.rss_kib += o.rss_kib;
            u.cpu += o.cpu;
        }
        u
    }

    /// The last lines the service wrote (for failure reports).
    pub fn log_tail(&self, lines: usize) -> String {
        let text =
            std::fs::read_to_string(self._dir.path().join("service.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        for c in std::iter::once(&mut self.child).chain(self.others.iter_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn usage_of(pid: u32) -> Usage {
    let mut u = Usage::default();
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for line in status.lines() {
            let kib = || {
                line.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            if line.starts_with("VmHWM:") {
                u.peak_rss_kib = kib();
            } else if line.starts_with("VmRSS:") {
                u.rss_kib = kib();
            }
        }
    }
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Fields after the command name (which may contain spaces).
        if let Some(rest) = stat.rsplit(')').next() {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
            u.cpu = Duration::from_millis(ticks * 10); // USER_HZ is 100 on Linux
        }
    }
    u
}
