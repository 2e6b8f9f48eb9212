//! Timers and requests under load, in one run on loopback:
//!
//! 1. **Timers**: one handler arms 10,000 timers (the per-service limit), all
//!    due 2 s later; measured: how long arming took, and how fast the due
//!    timers fired (each firing is one handler call).
//! 2. **Requests**: a member's refresh latency (refresh sent -> view
//!    arrived), measured side by side: with nothing in flight, then while
//!    1,000 requests to a local API that answers only at the end are in
//!    flight.
//!
//! `cargo run --release --example callbacks_bench [-- REFRESHES]`
//!
//! Everything runs in this process: the sandbox, the host, the API. Not a
//! test: figures depend on the machine.

use axum::{extract::State, routing::get, Json, Router};
use moobius_host::config::Config;
use moobius_host::host::{Host, HostOptions, ServicePaths};
use moobius_host::sandbox::{Sandbox, SandboxControl, SandboxOptions};
#[path = "support/latency.rs"]
mod latency;

use latency::{ms, next_view, pct, refresh_latencies};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const TIMERS: usize = 10_000;
const REQUESTS: usize = 1_000;

fn script(port: u16) -> String {
    format!(
        r#"
fn before_channel_init() {{ this.bot = create_agent("Bot"); this.fired = 0; this.answered = 0; }}
fn on_refresh(a) {{ send_characters([this.bot, a.sender], a.channel_id, a.sender); }}
fn on_message_up(m) {{
    let text = m.content.text;
    if text == "arm" {{
        for i in 0..{TIMERS} {{ after(2000, "fired", m.channel_id); }}
        send_message("armed", m.channel_id, this.bot, m.sender);
    }}
    if text == "ask" {{
        for i in 0..{REQUESTS} {{
            request(#{{url: "http://127.0.0.1:{port}/slow"}}, "answered", m.channel_id);
        }}
        send_message("asked", m.channel_id, this.bot, m.sender);
    }}
}}
fn fired(ch) {{
    this.fired += 1;
    if this.fired == {TIMERS} {{ send_message("all fired", ch, this.bot, fetch_member_ids(ch)); }}
}}
fn answered(response, ch) {{
    this.answered += 1;
    if this.answered == {REQUESTS} {{ send_message("all answered", ch, this.bot, fetch_member_ids(ch)); }}
}}
"#
    )
}

/// A JSON API that answers only once the gate opens.
async fn slow(State(gate): State<watch::Receiver<bool>>) -> Json<serde_json::Value> {
    let mut gate = gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    Json(serde_json::json!({"ok": true}))
}

/// Waits until `user` received a message with `text`.
async fn wait_text(c: &SandboxControl, user: &str, ch: &str, text: &str) -> Instant {
    let mut events = c.subscribe();
    loop {
        let seen = c.view(user, ch).ok().is_some_and(|v| {
            v.messages
                .iter()
                .any(|m| m.content["text"].as_str() == Some(text))
        });
        if seen {
            return Instant::now();
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), next_view(&mut events, user)).await;
    }
}

async fn say(c: &SandboxControl, user: &str, ch: &str, text: &str) {
    let fields = serde_json::json!({"text": text, "recipients": [user]});
    let _ = c
        .act_json(user, ch, "message", fields.as_object().expect("object"))
        .await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let refreshes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (open, gate) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let api = Router::new().route("/slow", get(slow)).with_state(gate);
    tokio::spawn(async move { axum::serve(listener, api).await });

    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("scripts"))?;
    std::fs::write(dir.path().join("scripts/service.rhai"), script(port))?;
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let c = sandbox.control();
    let ch = c.create_channel("bench");
    let alice = c.create_user("alice").user_id;
    let bob = c.create_user("bob").user_id;
    c.act(&alice, &ch, "join").await?;
    c.act(&bob, &ch, "join").await?;
    let mut config = Config::local(
        &sandbox.http_url(),
        &sandbox.ws_url(),
        vec![ch.clone()],
        "bench@sandbox.local",
    );
    // Loopback is reached only where http_allow names it.
    config.service.requests.allow = Some(vec![format!("127.0.0.1:{port}")]);
    let options = HostOptions {
        watch: false,
        ..HostOptions::default()
    };
    let mut host = Host::start(config, ServicePaths::in_dir(dir.path()), options);
    host.started().await?;

    // Timers.
    let t0 = Instant::now();
    say(&c, &alice, &ch, "arm").await;
    let armed = wait_text(&c, &alice, &ch, "armed").await;
    let fired = wait_text(&c, &alice, &ch, "all fired").await;
    let arming = armed - t0;
    let due = t0 + Duration::from_millis(2000);
    let firing = fired.saturating_duration_since(due.max(armed));
    println!("timers: {TIMERS} armed by one handler in {:.1} ms ({:.0} timers/s); all fired {:.1} ms after they were due ({:.0} timers fired/s)",
        ms(arming), TIMERS as f64 / arming.as_secs_f64(), ms(firing), TIMERS as f64 / firing.as_secs_f64().max(1e-9));

    // Requests: refresh latency without, then with, 1,000 in flight.
    let idle = refresh_latencies(&c, &bob, &ch, refreshes).await;
    say(&c, &alice, &ch, "ask").await;
    wait_text(&c, &alice, &ch, "asked").await;
    let busy = refresh_latencies(&c, &bob, &ch, refreshes).await;
    open.send(true)?;
    wait_text(&c, &alice, &ch, "all answered").await;
    println!(
        "refresh latency, {refreshes} serial refreshes: idle p50 {:.2} ms p99 {:.2} ms; with {REQUESTS} requests in flight p50 {:.2} ms p99 {:.2} ms (p50 ratio {:.2})",
        pct(&idle, 0.5),
        pct(&idle, 0.99),
        pct(&busy, 0.5),
        pct(&busy, 0.99),
        pct(&busy, 0.5) / pct(&idle, 0.5)
    );
    let _ = host.shutdown(Duration::from_secs(2)).await;
    sandbox.shutdown().await;
    Ok(())
}
