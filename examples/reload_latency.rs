//! Hot-reload latency: from saving `scripts/service.rhai` to the first event
//! handled by the new code, over 50 saves.
//!
//! `cargo run --release --example reload_latency [-- SAVES]`
//!
//! Everything runs in this process on loopback: the sandbox, the host (with
//! its file watcher) and one member who refreshes continuously. Each save
//! flips the member's view order; the time until a refresh shows the new
//! order is the latency (it includes the watcher's debounce, the compile and
//! the swap). Not a test: figures depend on the machine.

use moobius_host::config::Config;
use moobius_host::host::{Host, HostOptions, ServicePaths};
use moobius_host::sandbox::{Sandbox, SandboxOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SELF_FIRST: &str = "let payload = this.members[channel_id].view_for(member_id, [this.meow]);";
const SELF_LAST: &str =
    "let payload = this.members[channel_id].view_for(member_id, [this.meow]).to_array(); let me = payload.shift(); payload.push(me);";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let saves: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tutorial = std::fs::read_to_string(root.join("scripts/service.rhai"))?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("scripts"))?;
    std::fs::create_dir_all(dir.path().join("resources"))?;
    std::fs::copy(
        root.join("resources/avatar.png"),
        dir.path().join("resources/avatar.png"),
    )?;
    let script = dir.path().join("scripts/service.rhai");
    std::fs::write(&script, &tutorial)?;

    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let control = sandbox.control();
    let ch = control.create_channel("lobby");
    control.create_user("alice");
    control.act("alice", &ch, "join").await?;
    let mut config = Config::local(
        &sandbox.http_url(),
        &sandbox.ws_url(),
        vec![ch.clone()],
        "bench@sandbox.local",
    );
    config.service.checkin_interval = None;
    let host = Host::start(
        config,
        ServicePaths::in_dir(dir.path()),
        HostOptions::default(),
    );

    let first = |names: &[String]| names.first().cloned().unwrap_or_default();
    let names = |c: &moobius_host::sandbox::SandboxControl| -> Vec<String> {
        c.view("alice", &ch)
            .map(|v| v.characters.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    };
    // Wait for the service to serve alice.
    let deadline = Instant::now() + Duration::from_secs(20);
    while first(&names(&control)) != "alice" {
        if Instant::now() > deadline {
            return Err("the service never served alice".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let mut latencies = Vec::with_capacity(saves);
    for n in 0..saves {
        let (body, expect_first) = if n % 2 == 0 {
            (SELF_LAST, "Meow")
        } else {
            (SELF_FIRST, "alice")
        };
        let text = format!("// save {n}\n{}", tutorial.replace(SELF_FIRST, body));
        let saved = Instant::now();
        std::fs::write(&script, text)?;
        loop {
            control.act("alice", &ch, "refresh").await?;
            if first(&names(&control)) == expect_first {
                break;
            }
            if saved.elapsed() > Duration::from_secs(10) {
                return Err(format!("save {n} never took effect").into());
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        latencies.push(saved.elapsed());
    }
    let _ = host.shutdown(Duration::from_secs(2)).await;
    sandbox.shutdown().await;

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "reload latency over {} saves (save -> first event handled by the new code): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(pct(0.50)),
        ms(pct(0.95)),
        ms(latencies[latencies.len() - 1])
    );
    Ok(())
}
