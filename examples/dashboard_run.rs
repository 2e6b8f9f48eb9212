//! A real run for the dashboard picture: the sandbox and a host with metrics
//! on, in this process, under a workload that changes every few seconds
//! (members joining, refresh bursts, messages with timers and a failing
//! handler, a dropped connection, a reload), scraping the Prometheus text
//! every 500 ms into a CSV that `deploy/grafana/plot.py` draws as the
//! dashboard's panels.
//!
//! `cargo run --release --example dashboard_run -- target/dashboard.csv`
//! then `python3 deploy/grafana/plot.py target/dashboard.csv docs/dashboard.png`
//! (the plot needs matplotlib). Not a test: the figures depend on the machine.

use moobius_host::config::Config;
use moobius_host::host::{Host, HostOptions, ServicePaths};
use moobius_host::sandbox::{FaultRequest, Sandbox, SandboxControl, SandboxOptions};
use std::io::Write;
use std::time::{Duration, Instant};

const SCRIPT: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); }
fn on_refresh(a) {
    let members = fetch_member_ids(a.channel_id);
    send_characters([this.bot] + members, a.channel_id, a.sender);
}
fn on_join(a) { this.on_refresh(a); }
fn on_message_up(m) {
    if m.content.text == "boom" { throw "boom"; }
    after(2000, "later", m.channel_id);
    send_message(m);
}
fn later(ch) {}
"#;

/// The samples kept per scrape: the families of the dashboard's panels.
const SERIES: &[&str] = &[
    "moobius_events_received_total",
    "moobius_handler_calls_total",
    "moobius_handler_duration_seconds_sum",
    "moobius_handler_duration_seconds_count",
    "moobius_handler_errors_total",
    "moobius_frames_sent_total",
    "moobius_frames_in_flight",
    "moobius_outbox_queue_depth",
    "moobius_group_cache_hits_total",
    "moobius_group_cache_misses_total",
    "moobius_reconnects_total",
    "moobius_link_state",
    "moobius_reloads_total",
    "moobius_timers_pending",
    "moobius_process_resident_memory_bytes",
];

/// Sums a family's samples (over its labels; `live` only for the link state).
fn value(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            name == family && (family != "moobius_link_state" || l.contains("state=\"live\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn act(c: &SandboxControl, who: &str, ch: &str, what: &str, text: Option<&str>) {
    let _ = match text {
        None => c.act(who, ch, what).await,
        Some(t) => {
            let fields = serde_json::json!({"text": t, "recipients": [who]});
            c.act_json(who, ch, "message", fields.as_object().expect("object"))
                .await
        }
    };
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/dashboard.csv".into());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let handle = moobius_host::metrics::install().ok_or("cannot install the metrics recorder")?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("scripts"))?;
    let script = dir.path().join("scripts/service.rhai");
    std::fs::write(&script, SCRIPT)?;
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    let mut config = Config::local(
        &sandbox.http_url(),
        &sandbox.ws_url(),
        vec![ch.clone()],
        "dash@sandbox.local",
    );
    config.service.reconnect_min = Duration::from_millis(1500);
    config.service.reconnect_max = Duration::from_millis(1500);
    let mut host = Host::start(
        config,
        ServicePaths::in_dir(dir.path()),
        HostOptions::default(),
    );
    host.started().await?;

    let mut csv = std::fs::File::create(&out)?;
    writeln!(csv, "t,{}", SERIES.join(","))?;
    let t0 = Instant::now();
    let mut members = 0usize;
    let mut next_scrape = t0;
    while t0.elapsed() < Duration::from_secs(60) {
        let t = t0.elapsed().as_secs_f64();
        // The workload's phases.
        if t < 10.0 && members < (t * 10.0) as usize {
            members += 1;
            let name = format!("m{members:03}");
            c.create_user(&name);
            act(&c, &name, &ch, "join", None).await;
        } else if (10.0..25.0).contains(&t) {
            for i in 0..20 {
                act(
                    &c,
                    &format!("m{:03}", 1 + i % members.max(1)),
                    &ch,
                    "refresh",
                    None,
                )
                .await;
            }
        } else if (25.0..35.0).contains(&t) {
            let text = if (t * 10.0) as u64 % 7 == 0 {
                "boom"
            } else {
                "hello"
            };
            act(
                &c,
                &format!("m{:03}", 1 + (t * 10.0) as usize % members.max(1)),
                &ch,
                "message",
                Some(text),
            )
            .await;
        }
        if (38.0..38.1).contains(&t) {
            let _ = c.inject_faults(FaultRequest {
                drop_connections: true,
                ..FaultRequest::default()
            });
        }
        if (45.0..45.1).contains(&t) {
            std::fs::write(&script, format!("{SCRIPT}\n// v2\n"))?;
        }
        if (45.0..60.0).contains(&t) {
            act(
                &c,
                &format!("m{:03}", 1 + (t * 10.0) as usize % members.max(1)),
                &ch,
                "refresh",
                None,
            )
            .await;
        }
        if Instant::now() >= next_scrape {
            next_scrape += Duration::from_millis(500);
            let text = moobius_host::metrics::render(&handle);
            let row: Vec<String> = SERIES.iter().map(|f| value(&text, f).to_string()).collect();
            writeln!(csv, "{t:.2},{}", row.join(","))?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = host.shutdown(Duration::from_secs(3)).await;
    sandbox.shutdown().await;
    eprintln!("wrote {out}");
    Ok(())
}
