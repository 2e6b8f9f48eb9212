//! One busy channel against another, with 1 and with 2 script threads, in
//! one run on loopback: channel A's handler spins for 500 ms on every
//! message while a member of channel B refreshes serially; measured: B's
//! refresh latency (refresh sent -> view arrived), p50 and p99, with A idle
//! and with A busy, for each thread count. A and B are chosen so that with
//! 2 threads they belong to different threads.
//!
//! `cargo run --release --example stall_bench [-- REFRESHES]`
//!
//! Everything runs in this process: the sandbox and the host. Not a test:
//! figures depend on the machine.

use moobius_host::config::Config;
use moobius_host::host::{Host, HostOptions, ServicePaths};
use moobius_host::protocol::ids::shard_of;
use moobius_host::sandbox::{Sandbox, SandboxOptions};
#[path = "support/latency.rs"]
mod latency;

use latency::{next_view, pct, refresh_latencies};
use std::time::Duration;

const SCRIPT: &str = r#"
fn on_refresh(a) { send_characters([a.sender], a.channel_id, a.sender); }
fn on_message_up(m) {
    let end = now_ms() + 500;
    while now_ms() < end {}
    send_message(#{text: "done", channel_id: m.channel_id, sender: m.sender, recipients: [m.sender]});
}
"#;

/// B's latencies with A idle, then with A's member sending a message
/// every time A's handler is free (A busy all the time).
async fn measure(
    threads: usize,
    refreshes: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("scripts"))?;
    std::fs::write(dir.path().join("scripts/service.rhai"), SCRIPT)?;
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let c = sandbox.control();
    let mut chans: Vec<String> = Vec::new();
    for i in 0.. {
        let ch = c.create_channel(&format!("room-{i}"));
        if chans.is_empty() || shard_of(&ch, 2) != shard_of(&chans[0], 2) {
            chans.push(ch);
        }
        if chans.len() == 2 {
            break;
        }
    }
    let (a, b) = (chans[0].clone(), chans[1].clone());
    let ann = c.create_user("ann").user_id;
    let bob = c.create_user("bob").user_id;
    c.act(&ann, &a, "join").await?;
    c.act(&bob, &b, "join").await?;
    let mut config = Config::local(
        &sandbox.http_url(),
        &sandbox.ws_url(),
        chans.clone(),
        "bench@sandbox.local",
    );
    config.service.script_threads = threads;
    config.script_limits.timeout = Duration::from_secs(10);
    config.script_limits.max_operations = 0;
    let options = HostOptions {
        watch: false,
        ..HostOptions::default()
    };
    let mut host = Host::start(config, ServicePaths::in_dir(dir.path()), options);
    host.started().await?;
    let idle = refresh_latencies(&c, &bob, &b, refreshes).await;
    // Keeps A's handler busy: the next message as soon as the last one was
    // handled (its "done" reached ann).
    let control = c.clone();
    let (ann2, a2) = (ann.clone(), a.clone());
    let busy_task = tokio::spawn(async move {
        let fields = serde_json::json!({"text": "work", "recipients": []});
        let mut events = control.subscribe();
        loop {
            let _ = control
                .act_json(&ann2, &a2, "message", fields.as_object().expect("object"))
                .await;
            next_view(&mut events, &ann2).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = refresh_latencies(&c, &bob, &b, refreshes).await;
    busy_task.abort();
    let _ = host.shutdown(Duration::from_millis(500)).await;
    sandbox.shutdown().await;
    Ok((idle, busy))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let refreshes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let _ = rustls::crypto::ring::default_provider().install_default();
    for threads in [1, 2] {
        let (idle, busy) = measure(threads, refreshes).await?;
        println!(
            "script_threads {threads}: B's refresh latency ({refreshes} serial refreshes): A idle p50 {:.2} ms p99 {:.2} ms; A busy p50 {:.2} ms p99 {:.2} ms",
            pct(&idle, 0.5),
            pct(&idle, 0.99),
            pct(&busy, 0.5),
            pct(&busy, 0.99),
        );
    }
    Ok(())
}
