//! Helpers for the cluster tests: a service directory whose config names
//! its service (a cluster needs the id up front), and node processes
//! started with `run --cluster URL` against a real Redis.

#![allow(dead_code)]

pub mod deploys;

use crate::common::*;
use moobius_host::sandbox::Sandbox;
use std::process::Command;

/// A service directory for `channels`, its service already created on the
/// sandbox and its id in the config, with a short lease (`lease_ms`).
pub async fn cluster_service(
    sandbox: &Sandbox,
    channels: &[&str],
    script: &str,
    lease_ms: u64,
) -> ServiceDir {
    let svc = ServiceDir::with_script(sandbox, channels, script);
    let http = moobius_host::platform::HttpApi::new(
        &sandbox.http_url(),
        &svc.email(),
        moobius_host::config::Secret::new("pw-for-tests"),
    )
    .unwrap();
    http.sign_in().await.unwrap();
    let id = http.create_service("cluster test").await.unwrap();
    svc.set_service_key("service_id", id.into());
    svc.set_service_key("reconnect_min_ms", 20.into());
    svc.set_service_key("reconnect_max_ms", 200.into());
    svc.set_config_key(
        "cluster",
        serde_json::json!({"redis_url": "redis://unused", "partitions": 16, "lease_ms": lease_ms}),
    );
    svc
}

/// One node: `run --dir DIR --cluster URL`, and `extra` arguments.
pub fn node_with(svc: &ServiceDir, redis_url: &str, extra: &[&str]) -> HostProcess {
    let dir = svc.path().display().to_string();
    let mut args = vec!["run", "--dir", &dir, "--cluster", redis_url, "--no-watch"];
    args.extend_from_slice(extra);
    HostProcess::spawn_with_env::<&str>(&args, svc.path(), None, &[])
}

/// One node: `run --dir DIR --cluster URL`.
pub fn node(svc: &ServiceDir, redis_url: &str) -> HostProcess {
    node_with(svc, redis_url, &[])
}

/// `moobius-host cluster status --dir DIR --cluster URL [--json]`.
pub fn cluster_status(svc: &ServiceDir, redis_url: &str, json: bool) -> std::process::Output {
    let dir = svc.path().display().to_string();
    let mut args = vec!["cluster", "status", "--dir", &dir, "--cluster", redis_url];
    if json {
        args.push("--json");
    }
    Command::new(binary())
        .args(&args)
        .output()
        .expect("the binary runs")
}

/// Waits until one of `nodes` logged that it serves as the gateway with
/// a token, and returns its index.
pub async fn gateway_index(nodes: &[HostProcess], after: &str) -> usize {
    wait_for("a node serves as the gateway", || {
        let found = nodes.iter().position(|m| {
            let log = m.log();
            let tail = match after {
                "" => log.as_str(),
                _ => log.rsplit_once(after).map_or(log.as_str(), |(_, t)| t),
            };
            tail.contains("gateway: serving")
        });
        async move { found }
    })
    .await
}

/// Sends `signal` (`STOP`, `CONT`, `KILL`) to a node.
pub fn signal(node: &HostProcess, signal: &str) {
    let pid = node.child.id().to_string();
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status();
    assert!(
        sent.is_ok_and(|s| s.success()),
        "kill -{signal} {pid} failed"
    );
}

/// Waits until every node ran `before_channel_init` (its agents made
/// through the gateway) and owns partitions: the cluster is spread.
pub async fn all_ready(nodes: &[HostProcess]) {
    for m in nodes {
        m.wait_logged(
            "the node set up its script",
            &["handled", "before_channel_init"],
        )
        .await;
        m.wait_logged(
            "the node owns partitions",
            &["took partitions over", "channels="],
        )
        .await;
    }
}
