//! A handler's budget holds even where Rhai cannot see: host calls that wait
//! on the network get at most the time the handler has left, and a handler
//! that sends in a loop is stopped by its output budget while the link
//! delivers what it did send, without drops, at the pace the platform reads.

mod common;
use common::process::rss_kib;
use common::*;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A server on loopback that accepts connections and never answers.
struct SilentServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/never-ends", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SilentServer { url, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const BLOCKING: &str = r#"
fn before_channel_init() { this.url = "URL"; }
fn on_message_up(m) {
    let text = m.content.text;
    if text == "loop" {
        for i in 0..3 { try { download(this.url); } catch (e) {} }
    } else if text == "sort" {
        let url = this.url;
        [3, 1, 2].sort(|x, y| { download(url); 0 });
    }
    send_message("done " + text, m.channel_id, m.sender, m.sender);
}
"#;

/// `message_down` frames the sandbox received from services.
fn messages_down(c: &moobius_host::sandbox::SandboxControl) -> u64 {
    c.stats().frames.get("message_down").map_or(0, |f| f.count)
}

fn count(c: &moobius_host::sandbox::SandboxControl, ch: &str, text: &str) -> usize {
    inbox(c, "alice", ch)
        .iter()
        .filter(|(_, t)| t == text)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_calls_get_at_most_the_handlers_remaining_time() {
    let silent = SilentServer::start().await;
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &BLOCKING.replace("URL", &silent.url));
    svc.set_config_key("script_limits", serde_json::json!({"timeout_ms": 500}));
    svc.set_service_key("http_allow", serde_json::json!([host_port(&silent.url)]));
    let host = svc.run_host();
    wait_served(&c, &ch).await;

    for case in ["loop", "sort"] {
        let started = Instant::now();
        let ping = format!("ping after {case}");
        say(&c, "alice", &ch, case, &["alice"]).await;
        say(&c, "alice", &ch, &ping, &["alice"]).await;
        wait_message(&c, "alice", &ch, "alice", &format!("done {ping}")).await;
        eprintln!(
            "{case}: the next event was served {} ms after the blocking one arrived",
            started.elapsed().as_millis()
        );
        assert_eq!(
            count(&c, &ch, &format!("done {case}")),
            0,
            "{case} was aborted"
        );
    }
    let log = host.log();
    let aborted = log
        .lines()
        .filter(|l| {
            l.contains("on_message_up")
                && l.contains("download: no answer within the handler's time budget (500 ms, script_limits.timeout_ms)")
        })
        .count();
    assert_eq!(
        aborted, 2,
        "each blocking handler is aborted naming the call and the limit:\n{log}"
    );
    sandbox.shutdown().await;
}

const FLOOD: &str = r#"
fn on_message_up(m) {
    if m.content.text == "flood" {
        loop { send_message(m.content.text, m.channel_id, m.sender, m.sender); }
    }
    if m.content.text == "big" {
        let text = "x";
        text.pad(10000, "x");
        loop { send_message(text, m.channel_id, m.sender, m.sender); }
    }
    send_message("pong " + m.content.text, m.channel_id, m.sender, m.sender);
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_budget_stops_a_flood_and_every_frame_sent_arrives() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], FLOOD);
    svc.set_config_key(
        "script_limits",
        serde_json::json!({"timeout_ms": 30000, "max_output_frames": 3000, "max_output_bytes": 200000}),
    );
    let host = svc.run_host();
    wait_served(&c, &ch).await;

    let before = messages_down(&c);
    say(&c, "alice", &ch, "flood", &["alice"]).await;
    say(&c, "alice", &ch, "ping", &["alice"]).await;
    wait_message(&c, "alice", &ch, "alice", "pong ping").await;
    // The sandbox counts a frame just after applying it.
    wait_for("the sandbox counted every frame", || {
        let n = messages_down(&c) - before;
        async move { (n >= 3001).then_some(()) }
    })
    .await;
    assert_eq!(
        messages_down(&c) - before,
        3001,
        "every frame within the budget arrives, once, then the pong"
    );
    assert_eq!(c.stats().duplicate_frames, 0);
    assert!(
        host.log().contains("on_message_up aborted: send_message: the handler already sent 3000 frames (script_limits.max_output_frames)"),
        "{}",
        host.log()
    );

    say(&c, "alice", &ch, "big", &["alice"]).await;
    say(&c, "alice", &ch, "ping 2", &["alice"]).await;
    wait_message(&c, "alice", &ch, "alice", "pong ping 2").await;
    let big = inbox(&c, "alice", &ch)
        .iter()
        .filter(|(_, t)| t.len() == 10000)
        .count();
    assert!(
        (15..=20).contains(&big),
        "about 200 kB of 10 kB messages: {big}"
    );
    assert!(
        host.log().contains(
            "the handler's frames would exceed 200000 bytes (script_limits.max_output_bytes)"
        ),
        "{}",
        host.log()
    );
    assert!(!host.log().contains("connection lost"), "{}", host.log());
    sandbox.shutdown().await;
}

/// The issue's flood with the default limits: `loop { send_message(...) }`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_with_default_limits_leaves_the_link_and_memory_as_they_were() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], FLOOD);
    let host = svc.run_host();
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "ping", &["alice"]).await;
    wait_message(&c, "alice", &ch, "alice", "pong ping").await;
    let pid = host.child.id();
    let idle = rss_kib(pid);

    let before = messages_down(&c);
    let started = Instant::now();
    say(&c, "alice", &ch, "flood", &["alice"]).await;
    say(&c, "alice", &ch, "after", &["alice"]).await;
    let mut peak = idle;
    wait_for("the event after the flood is served", || {
        peak = peak.max(rss_kib(pid));
        let served = count(&c, &ch, "pong after") == 1;
        async move { served.then_some(()) }
    })
    .await;
    let next_event = started.elapsed();
    // The sandbox counts a frame just after applying it.
    let mut flooded = 0;
    wait_for("the sandbox counted the frames", || {
        let n = messages_down(&c) - before;
        flooded = n.saturating_sub(1);
        async move { (n >= 2).then_some(()) }
    })
    .await;
    let settled_count = wait_for("the count settles", || {
        let n = messages_down(&c) - before - 1;
        let prev = flooded;
        flooded = n;
        async move { (n == prev).then_some(n) }
    })
    .await;
    let flooded = settled_count;
    // Settled: once nothing moves any more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = rss_kib(pid);
    eprintln!(
        "flood: {flooded} frames delivered; next event served after {} ms; host RSS idle {} KiB, peak {} KiB, settled {} KiB",
        next_event.as_millis(),
        idle,
        peak,
        settled
    );
    let log = host.log();
    assert!(log.contains("on_message_up aborted"), "{log}");
    assert!(!log.contains("connection lost"), "the link kept up: {log}");
    assert!(
        !log.contains("oldest frames dropped"),
        "nothing dropped: {log}"
    );
    assert!(flooded > 0 && flooded <= 10_000, "{flooded}");
    assert!(
        settled <= 2 * idle,
        "settled RSS {settled} KiB within 2x idle {idle} KiB"
    );
    sandbox.shutdown().await;
}
