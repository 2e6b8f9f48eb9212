//! Connection faults, injected by the sandbox: the host loses no member and
//! no downward event to dropped connections, rejected tokens, silent
//! (half-open) connections or failing HTTP calls.

mod common;
use common::*;
use moobius_host::sandbox::{FaultRequest, SandboxControl};
use std::collections::HashMap;

fn faults(c: &SandboxControl, f: impl FnOnce(&mut FaultRequest)) {
    let mut req = FaultRequest::default();
    f(&mut req);
    c.inject_faults(req).unwrap();
}

/// A tutorial service with fast reconnects and a short heartbeat.
fn fast_service(sandbox: &moobius_host::sandbox::Sandbox, ch: &str) -> ServiceDir {
    let svc = ServiceDir::new(sandbox, &[ch]);
    svc.set_service_key("reconnect_min_ms", 20.into());
    svc.set_service_key("reconnect_max_ms", 200.into());
    svc.set_service_key("heartbeat_interval", 0.3.into());
    svc
}

/// A lobby with alice, served by a [`fast_service`]: the channel, the
/// service and its host, once alice sees Meow.
async fn alice_served(
    sandbox: &moobius_host::sandbox::Sandbox,
) -> (String, ServiceDir, HostProcess) {
    let (ch, svc, host) =
        lobby_with_host(sandbox, &["alice"], |ch| fast_service(sandbox, ch)).await;
    wait_sees(&sandbox.control(), "alice", &ch, &["alice", "Meow"]).await;
    (ch, svc, host)
}

/// Makes the sandbox reject the host's token and drop its connections, then
/// waits until the host has signed in again and serves `ch` once more.
async fn force_sign_in_again(c: &SandboxControl, host: &HostProcess, ch: &str) {
    faults(c, |f| {
        f.reject_tokens = true;
        f.drop_connections = true;
    });
    host.wait_logged("the host signs in again", &["signed in again"])
        .await;
    wait_served(c, ch).await;
}

/// What the tutorial shows `me` given the members in join order.
fn tutorial_view(me: &str, members: &[&str]) -> Vec<String> {
    let mut v = vec![me.to_string(), "Meow".to_string()];
    v.extend(members.iter().filter(|m| **m != me).map(|m| m.to_string()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_detected_and_replaced() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, _svc, host) = alice_served(&sandbox).await;

    faults(&c, |f| f.pause_ws = Some(true));
    host.wait_logged("the host notices the silence", &["half-open"])
        .await;
    faults(&c, |f| f.pause_ws = Some(false));
    wait_served(&c, &ch).await;
    c.create_user("bob");
    c.act("bob", &ch, "join").await.unwrap();
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    wait_sees(&c, "bob", &ch, &["bob", "Meow", "alice"]).await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_tokens_and_failing_http_are_survived() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, _svc, host) = alice_served(&sandbox).await;

    force_sign_in_again(&c, &host, &ch).await;
    faults(&c, |f| f.http_error_rate = Some(0.3));
    for name in ["bob", "carol"] {
        c.create_user(name);
        c.act(name, &ch, "join").await.unwrap();
    }
    wait_sees(&c, "carol", &ch, &["carol", "Meow", "alice", "bob"]).await;
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob", "carol"]).await;
    faults(&c, |f| f.http_error_rate = Some(0.0));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_two_thousand_actions_fifty_drops_two_token_rejections() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    let names = ["alice", "bob", "carol"];
    for n in names {
        c.create_user(n);
    }
    c.create_user("probe");
    let svc = fast_service(&sandbox, &ch);
    let _host = svc.run_host();
    wait_served(&c, &ch).await;

    // Chaos runs beside the actions: 50 drops at random moments, tokens
    // rejected twice.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chaos = {
        let (c, stop) = (c.clone(), stop.clone());
        tokio::spawn(async move {
            let mut drops = 0;
            while drops < 50 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(std::time::Duration::from_millis(
                    20 + rand::random::<u64>() % 80,
                ))
                .await;
                drops += 1;
                faults(&c, |f| {
                    f.drop_connections = true;
                    f.reject_tokens = drops == 17 || drops == 34;
                });
            }
            drops
        })
    };

    let mut events = c.subscribe();
    let mut members: Vec<&str> = Vec::new();
    let mut affecting: HashMap<&str, u64> = HashMap::new();
    let mut delivered = 0;
    let mut last_version: HashMap<&str, u64> = names.iter().map(|n| (*n, 0)).collect();
    let started = std::time::Instant::now();
    for i in 0..2000u32 {
        if i % 250 == 0 {
            eprintln!("chaos: action {i} at {:?}", started.elapsed());
        }
        let who = names[(rand::random::<u32>() % 3) as usize];
        let present = members.contains(&who);
        let action = match (present, rand::random::<u32>() % 4) {
            (false, _) => "join",
            (true, 0) => "leave",
            (true, _) => "refresh",
        };
        let before: HashMap<&str, u64> = names.iter().map(|n| (*n, version(&c, n, &ch))).collect();
        match action {
            "join" => members.push(who),
            "leave" => members.retain(|m| *m != who),
            _ => {}
        }
        // Who gets a new view from this action: the refresher, or everyone present.
        let affected: Vec<&str> = if action == "refresh" {
            vec![who]
        } else {
            members.clone()
        };
        if c.act(who, &ch, action).await.unwrap() {
            delivered += 1;
        }
        for m in &affected {
            *affecting.entry(m).or_default() += 1;
        }
        // Each affected member's view changes (or a reconnect's resync
        // re-sends it) before the next action: no action is lost silently.
        let what = format!("action {i} ({who} {action}) reaches {affected:?}");
        let done = || affected.iter().all(|m| version(&c, m, &ch) > before[m]);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !done() {
            // Woken by the sandbox's view events rather than by polling.
            if tokio::time::timeout_at(deadline, events.recv())
                .await
                .is_err()
            {
                panic!("timed out waiting for: {what}");
            }
        }
        for n in names {
            last_version.insert(n, version(&c, n, &ch));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let drops = chaos.await.unwrap();

    // After the storm: exactly the views a fault-free run ends with.
    wait_served(&c, &ch).await;
    for m in &members {
        let expected = tutorial_view(m, &members);
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        wait_sees(&c, m, &ch, &expected).await;
    }
    let stats = c.stats();
    let injected = c.faults();
    eprintln!(
        "chaos: 2000 actions ({delivered} delivered to a connected service), {drops} drops, {} token rejections, \
         views received {:?}, actions affecting each {:?}, {} repeated frames acknowledged but not delivered again",
        injected.token_rejections, last_version, affecting, stats.duplicate_frames
    );
    assert_eq!(drops, 50);
    assert_eq!(injected.token_rejections, 2);
    for n in names {
        assert!(
            last_version[n] >= affecting.get(n).copied().unwrap_or(0),
            "{n} received fewer views than actions affecting them"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_or_token_reaches_a_log_even_at_trace_level() {
    no_secret_in_logs(&[]).await;
}

/// `RUST_LOG` replaces the configured levels, for every crate: the
/// dependencies' trace output (whole WebSocket frames) must still not show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_or_token_reaches_a_log_at_rust_log_trace() {
    no_secret_in_logs(&[("RUST_LOG", "trace")]).await;
}

async fn no_secret_in_logs(env: &[(&str, &str)]) {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = fast_service(&sandbox, &ch);
    let log_file = svc.path().join("logs/trace.log");
    svc.set_config_key(
        "log_config",
        serde_json::json!({"terminal_log_level": "TRACE", "log_level": "TRACE", "log_file": "logs/trace.log"}),
    );
    let host = svc.run_host_with_env(env);
    wait_sees(&c, "alice", &ch, &["alice", "Meow"]).await;
    // Sign-in, refresh of views, a token rejection with re-authentication
    // and a reconnect: every path that handles a secret.
    force_sign_in_again(&c, &host, &ch).await;
    c.act("alice", &ch, "refresh").await.unwrap();
    let tokens = c.issued_tokens();
    assert!(tokens.len() >= 4, "two sign-ins at least: {}", tokens.len());
    let logs = format!(
        "{}\n{}",
        host.log(),
        std::fs::read_to_string(&log_file).unwrap()
    );
    assert!(logs.lines().count() > 20, "trace logging is on");
    assert!(
        !logs.contains("pw-for-tests"),
        "the password leaked into a log"
    );
    for t in &tokens {
        assert!(!logs.contains(t.as_str()), "a token leaked into a log");
    }
    eprintln!(
        "secrets: {} log lines checked against the password and {} tokens",
        logs.lines().count(),
        tokens.len()
    );
    sandbox.shutdown().await;
}
