//! A `redis-server` on a free loopback port, stopped when dropped: for
//! the examples that need one (the cluster benchmarks) and for the tests
//! (`tests/store_support`), which include it with `#[path]`.
#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` on a free loopback port, stopped when dropped.
pub struct RedisServer {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// [`RedisServer::start`] with more `redis-server` arguments
    /// (`--requirepass PW`, `--unixsocket PATH`).
    pub fn start_with(extra: &[&str]) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = tempfile::tempdir()?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (is it installed?)")?;
        let url = format!("redis://127.0.0.1:{port}/");
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let up = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .is_ok();
            if up {
                return Ok(RedisServer {
                    url,
                    child,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("redis-server did not answer on {url}")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
