//! SIGTERM under load: the host stops taking events, finishes the handler
//! it is running, flushes what its handlers sent, and exits 0 within the
//! bound; every frame it wrote reached the platform.

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Each refresh sends every member the list: one update per member.
const FAN_OUT: &str = r#"
fn on_refresh(a) {
    let members = fetch_member_ids(a.channel_id);
    for m in members { send_characters(members, a.channel_id, m); }
}
"#;

fn updates_received(c: &moobius_host::sandbox::SandboxControl) -> u64 {
    c.stats().frames.get("update").map_or(0, |f| f.count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_0_in_time_and_loses_nothing_acknowledged() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let members: Vec<String> = (0..30).map(|i| format!("m{i:02}")).collect();
    let names: Vec<&str> = members.iter().map(String::as_str).collect();
    let (ch, _svc, mut host) = lobby_with_host(&sandbox, &names, |ch| {
        ServiceDir::with_script(&sandbox, &[ch], FAN_OUT)
    })
    .await;
    wait_served(&c, &ch).await;

    // Refreshes from another task until the host is gone, at most WINDOW
    // ahead of what the host answered (as members' clients would be: a
    // flood beyond that gets any service disconnected by the platform).
    const WINDOW: u64 = 200;
    let load_on = Arc::new(AtomicBool::new(true));
    let load = {
        let (c, ch, on) = (c.clone(), ch.clone(), load_on.clone());
        tokio::spawn(async move {
            let mut sent: u64 = 0;
            while on.load(Ordering::SeqCst) {
                if sent > updates_received(&c) / 30 + WINDOW {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let _ = c.act(&format!("m{:02}", sent % 30), &ch, "refresh").await;
                sent += 1;
            }
        })
    };
    wait_for("the host is busy", || async {
        (updates_received(&c) > 1_000).then_some(())
    })
    .await;

    let signalled = Instant::now();
    host.terminate();
    let bound = moobius_host::timeouts::FLUSH_BOUND + Duration::from_millis(1500);
    let status = host.exited().await;
    let took = signalled.elapsed();
    load_on.store(false, Ordering::SeqCst);
    let _ = load.await;
    assert_eq!(status.code(), Some(0), "{}", host.log());
    assert!(took <= bound, "stopped in {took:?}, more than {bound:?}");

    let log = host.log();
    let closed = log
        .lines()
        .find(|l| l.contains("platform connection closed"))
        .unwrap_or_else(|| panic!("no closing line:\n{log}"));
    let field = |name: &str| -> u64 {
        let at = closed.find(&format!("{name}=")).unwrap() + name.len() + 1;
        closed[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("unacknowledged"), 0, "{closed}");
    let written = field("written");
    wait_for("the sandbox applied every frame the host wrote", || async {
        (updates_received(&c) == written).then_some(())
    })
    .await;
    eprintln!("stopped in {took:?}; {written} updates written, all received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_host_stops_within_a_second() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, _svc, mut host) = lobby_with_host(&sandbox, &["alice"], |ch| {
        ServiceDir::with_script(&sandbox, &[ch], FAN_OUT)
    })
    .await;
    wait_served(&c, &ch).await;
    let signalled = Instant::now();
    host.terminate();
    let status = host.exited().await;
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(1),
        "{:?}",
        signalled.elapsed()
    );
}
