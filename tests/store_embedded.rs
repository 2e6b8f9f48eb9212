//! The embedded store against the real sandbox and the real binary: writes
//! survive a restart and a `kill -9` in the middle of a burst (every write
//! whose handler's answer a member received is there afterwards), and the
//! groupchat example's roles outlive the host.

mod common;
mod store_support;
use common::*;
use serde_json::json;
use store_support::*;

fn service(sandbox: &moobius_host::sandbox::Sandbox, ch: &str) -> ServiceDir {
    let svc = ServiceDir::with_script(sandbox, &[ch], SCRIPT);
    svc.set_config_key(
        "db_config",
        json!([{"name": "log"}, {"name": "scores", "load": false}]),
    );
    svc
}

/// A lobby with alice, served by [`service`]: the channel, the service and
/// its host, once it serves.
async fn alice_served(
    sandbox: &moobius_host::sandbox::Sandbox,
) -> (String, ServiceDir, HostProcess) {
    let (ch, svc, host) = lobby_with_host(sandbox, &["alice"], |ch| service(sandbox, ch)).await;
    wait_served(&sandbox.control(), &ch).await;
    (ch, svc, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_a_restart() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, svc, mut host) = alice_served(&sandbox).await;
    for t in ["w1", "w2", "add", "add"] {
        assert!(send(&c, "alice", &ch, t).await);
    }
    wait_text(&c, "alice", &ch, "n=2").await;
    host.kill();

    let _host = svc.run_host();
    wait_served(&c, &ch).await;
    assert!(send(&c, "alice", &ch, "add").await);
    assert!(send(&c, "alice", &ch, "dump").await);
    assert_eq!(wait_text(&c, "alice", &ch, "dump").await, "dump w1 w2");
    assert_eq!(wait_text(&c, "alice", &ch, "n=").await, "n=3");
    assert!(svc.path().join("data/store.redb").is_file());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_completed_write() {
    const BURST: usize = 400;
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, svc, mut host) = alice_served(&sandbox).await;

    let burst = {
        let c = c.clone();
        let ch = ch.clone();
        tokio::spawn(async move {
            for i in 0..BURST {
                if !send(&c, "alice", &ch, &format!("w{i}")).await {
                    break; // the host is gone
                }
            }
        })
    };
    wait_for("a few handled writes", || {
        let n = texts(&c, "alice", &ch).len();
        async move { (n >= 40).then_some(()) }
    })
    .await;
    host.kill(); // SIGKILL, in the middle of the burst
    burst.abort();
    let _ = burst.await;

    let host2 = svc.run_host();
    wait_served(&c, &ch).await;
    assert!(send(&c, "alice", &ch, "dump").await);
    let dump = wait_text(&c, "alice", &ch, "dump").await;
    let stored: std::collections::HashSet<&str> = dump.split(' ').skip(1).collect();
    let answered: Vec<String> = texts(&c, "alice", &ch)
        .into_iter()
        .filter_map(|t| t.strip_prefix("ok ").map(str::to_string))
        .collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|k| !stored.contains(k.as_str()))
        .collect();
    println!(
        "answered before the kill: {}, stored after the restart: {}, of {BURST} sent",
        answered.len(),
        stored.len()
    );
    assert!(
        answered.len() >= 40 && answered.len() < BURST,
        "the kill came mid-burst"
    );
    assert!(missing.is_empty(), "answered but not stored: {missing:?}");
    assert!(
        !host2.log().contains("store start-up failed"),
        "{}",
        host2.log()
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groupchat_roles_survive_a_restart() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob", "carol"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &example("groupchat"));
    svc.set_config_key("db_config", json!([{"name": "roles"}]));
    let mut host = svc.run_host();
    wait_buttons(&c, "carol", &ch, &["default", "quiet", "vip"]).await;
    let everyone = ["alice", "bob", "carol"];
    click(&c, "carol", &ch, json!({"button_id": "vip"})).await;
    click(&c, "bob", &ch, json!({"button_id": "quiet"})).await;
    // Handlers run in order: once this arrives, both clicks were handled.
    say(&c, "alice", &ch, "before", &everyone).await;
    wait_message(&c, "alice", &ch, "alice", "before").await;
    host.kill();

    let host = svc.run_host();
    // The sandbox may still route to the killed process until the new one
    // logs in: once the new one handled its channel's check-in, it serves.
    host.wait_logged(
        "the restarted host checked the channel in",
        &["handled", "on_channel_checkin"],
    )
    .await;
    wait_served(&c, &ch).await;
    say(&c, "carol", &ch, "secret", &everyone).await;
    say(&c, "alice", &ch, "after", &everyone).await;
    wait_message(&c, "carol", &ch, "alice", "after").await;
    wait_message(&c, "carol", &ch, "carol", "secret").await;
    assert_eq!(
        inbox(&c, "alice", &ch),
        [
            ("alice".into(), "before".into()),
            ("alice".into(), "after".into())
        ],
        "carol is still a VIP: alice does not hear her"
    );
    assert!(
        inbox(&c, "bob", &ch).is_empty(),
        "bob is still in hear-nothing mode"
    );
    sandbox.shutdown().await;
}

/// Without `db_config` at all, a store is an embedded one: what a handler
/// wrote is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_db_config_a_store_is_embedded_and_survives_a_restart() {
    const SCRIPT: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); }
fn on_message_up(m) {
    let scores = store(m.channel_id, "scores");
    let text = m.content.text;
    if text == "score" { scores.set("alice", 42); }
    if text == "show" { send_message(`score ${scores.get("alice")}`, m.channel_id, this.bot, m.sender); }
}
"#;
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], SCRIPT);
    let mut host = svc.run_host();
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "score", &["alice"]).await;
    say(&c, "alice", &ch, "show", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Bot", "score 42").await;
    host.terminate();
    assert_eq!(host.exited().await.code(), Some(0));
    assert!(svc.path().join("data/store.redb").is_file());

    let _host = svc.run_host();
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "show", &["alice"]).await;
    wait_for("the score read after the restart", || {
        let n = inbox(&c, "alice", &ch)
            .iter()
            .filter(|(from, text)| from == "Bot" && text == "score 42")
            .count();
        async move { (n == 2).then_some(()) }
    })
    .await;
}
