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
    _dir: tempfile::TempDir,
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
}

impl Launch<'_> {
    pub fn start(&self, target: Target, channels: &[String]) -> Result<Service> {
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
                let mut c = Command::new(host_binary()?);
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
        // The service's own output goes to a file, read when something fails.
        let log = std::fs::File::create(p.join("service.log"))?;
        if let Ok(level) = std::env::var("BENCH_SERVICE_LOG") {
            cmd.env("RUST_LOG", level);
        }
        let child = cmd
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting the {} service", target.label()))?;
        Ok(Service { child, _dir: dir })
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
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn usage(&self) -> Usage {
        usage_of(self.pid())
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
        let _ = self.child.kill();
        let _ = self.child.wait();
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
