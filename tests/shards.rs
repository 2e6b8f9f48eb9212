//! Several script threads (`script_threads`) through the real host and
//! sandbox: every channel served correctly and in order on its thread, a
//! reload that swaps all threads or none, and a busy channel that does not
//! stall a channel of another thread.

mod common;
use common::*;
use moobius_host::protocol::ids::shard_of;
use moobius_host::sandbox::SandboxControl;

/// Shows each member the agent Meow (made once for every thread) and the
/// channel's members; answers each text `n` with `n after <last n of this channel> <version>`
/// (so order and routing show), keeps each member's list to the channel's
/// members, and on "busy" spins until another channel's "release" is in the
/// service-wide store (so it ends only if another thread ran meanwhile).
const SCRIPT: &str = r#"
fn before_channel_init() { this.meow = create_agent("Meow"); }
fn on_channel_checkin(channel_id) {}
fn on_refresh(action) {
    let members = fetch_member_ids(action.channel_id);
    send_characters([this.meow] + members, action.channel_id, action.sender);
}
fn on_message_up(m) {
    let ch = m.channel_id;
    let text = m.content.text;
    if text == "busy" {
        let flags = store("global", "flags");
        let deadline = now_ms() + 20000;
        while flags.get("released") != true && now_ms() < deadline {}
        let how = if flags.get("released") == true { "released" } else { "timed out" };
        reply(m, how);
        return;
    }
    if text == "later" {
        after(5, "later", m);
        return;
    }
    if text == "release" {
        let flags = store("global", "flags");
        flags.released = true;
        reply(m, "done");
        return;
    }
    if this.seen == () { this.seen = #{}; }
    let last = this.seen[ch] ?? 0;
    this.seen[ch] = parse_int(text);
    reply(m, `${text} after ${last} VERSION`);
}
// A timer calls back on the thread that armed it: `this.seen` of the
// channel is there.
fn later(m) {
    reply(m, `later after ${this.seen[m.channel_id]}`);
}
fn reply(m, text) {
    send_message(#{text: text, channel_id: m.channel_id, sender: m.sender, recipients: [m.sender]});
}
"#;

fn script(version: &str) -> String {
    SCRIPT.replace("VERSION", version)
}

/// `n` channels, each with two members `c{i}a`, `c{i}b` who joined; their ids.
async fn channels(control: &SandboxControl, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let ch = control.create_channel(&format!("room-{i}"));
        for who in ["a", "b"] {
            let user = format!("c{i}{who}");
            control.create_user(&user);
            control.act(&user, &ch, "join").await.unwrap();
        }
        ids.push(ch);
    }
    ids
}

/// A host serving `chans` with `threads` script threads, once it serves them.
async fn host_for(
    sandbox: &moobius_host::sandbox::Sandbox,
    chans: &[String],
    threads: usize,
    script: &str,
) -> (ServiceDir, HostProcess) {
    let refs: Vec<&str> = chans.iter().map(String::as_str).collect();
    let svc = ServiceDir::with_script(sandbox, &refs, script);
    svc.set_service_key("script_threads", threads.into());
    svc.set_config_key(
        "script_limits",
        serde_json::json!({"timeout_ms": 30000, "max_operations": 0}),
    );
    let host = svc.run_host();
    host.wait_logged("the scripts compiled", &[&format!("threads={threads}")])
        .await;
    for ch in chans {
        wait_served(&sandbox.control(), ch).await;
    }
    (svc, host)
}

/// The texts of the service's replies `user` received, oldest first.
fn replies(control: &SandboxControl, user: &str, ch: &str) -> Vec<String> {
    inbox(control, user, ch)
        .into_iter()
        .filter(|(from, _)| from == user)
        .map(|(_, text)| text)
        .collect()
}

async fn wait_replies(control: &SandboxControl, user: &str, ch: &str, n: usize) -> Vec<String> {
    wait_for(&format!("{n} replies to {user}"), || {
        let got = replies(control, user, ch);
        async move { (got.len() >= n).then_some(got) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_channels_on_four_threads_are_each_served_in_order() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let chans = channels(&c, 40).await;
    let spread: std::collections::BTreeSet<usize> =
        chans.iter().map(|ch| shard_of(ch, 4)).collect();
    assert_eq!(spread.len(), 4, "the channels land on every thread");
    let (_svc, host) = host_for(&sandbox, &chans, 4, &script("v1")).await;
    const N: usize = 10;
    // Interleaved across channels, in order within each.
    for n in 1..=N {
        for (i, ch) in chans.iter().enumerate() {
            say(&c, &format!("c{i}a"), ch, &n.to_string(), &[]).await;
        }
    }
    for (i, ch) in chans.iter().enumerate() {
        let user = format!("c{i}a");
        let got = wait_replies(&c, &user, ch, N).await;
        let expected: Vec<String> = (1..=N).map(|n| format!("{n} after {} v1", n - 1)).collect();
        assert_eq!(got, expected, "channel {i}");
        say(&c, &user, ch, "later", &[]).await;
        let got = wait_replies(&c, &user, ch, N + 1).await;
        assert_eq!(got[N], format!("later after {N}"), "channel {i}");
        refresh_until(&c, &user, ch, &["Meow", &user, &format!("c{i}b")]).await;
    }
    // Every thread ran before_channel_init; the agent was made once.
    assert_eq!(agents_created(&c), Some(1));
    let meows: std::collections::BTreeSet<String> = chans
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            c.view(&format!("c{i}a"), ch).unwrap().characters[0]
                .character_id
                .clone()
        })
        .collect();
    assert_eq!(meows.len(), 1, "one Meow everywhere: {meows:?}");
    assert!(!host.log().contains(" ERROR "), "{}", host.log());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_channel_does_not_stall_a_channel_of_another_thread() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let chans = channels(&c, 8).await;
    let a = chans.iter().position(|ch| shard_of(ch, 2) == 0).unwrap();
    let b = chans.iter().position(|ch| shard_of(ch, 2) == 1).unwrap();
    let (_svc, _host) = host_for(&sandbox, &chans, 2, &script("v1")).await;
    say(&c, &format!("c{a}a"), &chans[a], "busy", &[]).await;
    // A's handler spins until B's handler ran: with one thread for both,
    // B's message would wait behind it and A would time out instead.
    say(&c, &format!("c{b}a"), &chans[b], "release", &[]).await;
    assert_eq!(
        wait_replies(&c, &format!("c{b}a"), &chans[b], 1).await,
        ["done"]
    );
    assert_eq!(
        wait_replies(&c, &format!("c{a}a"), &chans[a], 1).await,
        ["released"]
    );
    sandbox.shutdown().await;
}

/// Each member's replies in a channel: every `v1` before every `v2`.
fn versions_in_order(got: &[String]) -> bool {
    let first_v2 = got
        .iter()
        .position(|t| t.ends_with("v2"))
        .unwrap_or(got.len());
    got[first_v2..].iter().all(|t| t.ends_with("v2"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_swaps_every_thread_and_a_broken_one_none() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let chans = channels(&c, 12).await;
    let (svc, host) = host_for(&sandbox, &chans, 4, &script("v1")).await;
    let file = svc.path().join("scripts/service.rhai");
    // Load on every channel while the new version is saved.
    let mut sent = 0;
    for round in 1..=30 {
        if round == 10 {
            std::fs::write(&file, script("v2")).unwrap();
        }
        for (i, ch) in chans.iter().enumerate() {
            say(&c, &format!("c{i}a"), ch, &round.to_string(), &[]).await;
        }
        sent = round;
    }
    host.wait_logged("the reload", &[" reloaded "]).await;
    // After the swap, every thread answers with the new version.
    for (i, ch) in chans.iter().enumerate() {
        say(&c, &format!("c{i}a"), ch, "100", &[]).await;
    }
    for (i, ch) in chans.iter().enumerate() {
        let got = wait_replies(&c, &format!("c{i}a"), ch, sent + 1).await;
        assert!(versions_in_order(&got), "channel {i}: {got:?}");
        assert!(got[sent].ends_with("v2"), "channel {i}: {got:?}");
        // `this` was kept by every thread: the order survived the swap.
        for (n, text) in got[..sent].iter().enumerate() {
            assert!(text.starts_with(&format!("{} after {n} ", n + 1)), "{text}");
        }
    }
    assert_eq!(
        host.log().matches(" reloaded ").count(),
        1,
        "one version, one log line"
    );

    // A broken save: every thread keeps v2.
    std::fs::write(
        &file,
        script("v3").replace("fn reply(m, text)", "fn reply(m, text"),
    )
    .unwrap();
    host.wait_logged("the failed reload", &["reload failed"])
        .await;
    for (i, ch) in chans.iter().enumerate() {
        say(&c, &format!("c{i}a"), ch, "101", &[]).await;
    }
    for (i, ch) in chans.iter().enumerate() {
        let got = wait_replies(&c, &format!("c{i}a"), ch, sent + 2).await;
        assert_eq!(got[sent + 1], "101 after 100 v2", "channel {i}");
    }
    sandbox.shutdown().await;
}

/// Announces a spell's `say` in every channel its thread serves and answers
/// with how many that was.
const ANNOUNCER: &str = r#"
fn before_channel_init() { this.channels = []; }
fn on_channel_checkin(channel_id) {
    if !this.channels.contains(channel_id) { this.channels.push(channel_id); }
}
fn on_spell(value) {
    for ch in this.channels {
        let members = fetch_member_ids(ch);
        send_message(value.say, ch, members[0], members);
    }
    this.channels.len()
}
"#;

/// `moobius-host spell --dir DIR VALUE`: exit code and stdout.
fn spell(dir: &std::path::Path, value: &str) -> (Option<i32>, String) {
    let out = std::process::Command::new(binary())
        .args(["spell", "--dir"])
        .arg(dir)
        .arg(value)
        .env_remove("MOOBIUS_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spell_without_channel_id_reaches_every_thread_and_answers_a_list() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    // Channel ids are random: six may all hash to one thread (1 in 32), so
    // more are made until both threads have one.
    let mut chans = channels(&c, 6).await;
    let both = |chans: &[String]| {
        chans
            .iter()
            .map(|ch| shard_of(ch, 2))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 2
    };
    while !both(&chans) && chans.len() < 64 {
        let more = c.create_channel(&format!("room-{}", chans.len()));
        for who in ["a", "b"] {
            let user = format!("c{}{who}", chans.len());
            c.create_user(&user);
            c.act(&user, &more, "join").await.unwrap();
        }
        chans.push(more);
    }
    assert!(both(&chans), "the channels land on both threads");
    let refs: Vec<&str> = chans.iter().map(String::as_str).collect();
    let svc = ServiceDir::with_script(&sandbox, &refs, ANNOUNCER);
    svc.set_service_key("script_threads", 2.into());
    svc.set_service_key("admin", "127.0.0.1:0".into());
    let _host = svc.run_host();
    for ch in &chans {
        wait_served(&c, ch).await;
    }
    admin_endpoint(svc.path()).await;
    let per_thread = |t: usize| chans.iter().filter(|ch| shard_of(ch, 2) == t).count();
    // A spell takes turns with the channels' initialisations (the intake's
    // lanes), so an early one may find some channels not yet checked in:
    // the answer is awaited until each thread counts all of its channels.
    let expected = serde_json::json!([per_thread(0), per_thread(1)]).to_string();
    let mut last = String::new();
    let answered = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let (code, out) = tokio::task::spawn_blocking({
                let dir = svc.path().to_path_buf();
                move || spell(&dir, r#"{"say": "to all"}"#)
            })
            .await
            .unwrap();
            assert_eq!(code, Some(0), "{out}");
            if out == expected {
                return;
            }
            last = out;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(answered.is_ok(), "answers {last}, expected {expected}");
    for (i, ch) in chans.iter().enumerate() {
        wait_message(&c, &format!("c{i}b"), ch, &format!("c{i}a"), "to all").await;
    }
    // With a channel_id, only its thread: its answer alone.
    let first = chans[0].clone();
    let (code, out) = tokio::task::spawn_blocking({
        let dir = svc.path().to_path_buf();
        move || {
            spell(
                &dir,
                &serde_json::json!({"say": "one", "channel_id": first}).to_string(),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, per_thread(shard_of(&chans[0], 2)).to_string());
}
