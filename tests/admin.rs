//! The admin endpoint of `moobius-host run --admin 127.0.0.1:0`, against the
//! real sandbox: probes without a token, everything else with it; readiness
//! follows the connection; metrics move with the workload; a spell
//! round-trips through `on_spell` and the `spell` command.

mod common;
use common::*;
use moobius_host::sandbox::FaultRequest;
use serde_json::{json, Value};
use std::process::Command;

const SCRIPT: &str = r#"
fn before_channel_init() { this.spells = 0; this.bot = create_agent("Bot"); }
fn on_refresh(a) { send_characters([this.bot, a.sender], a.channel_id, a.sender); }
fn on_message_up(m) {
    let text = m.content.text;
    if text == "boom" { throw "boom"; }
    if text == "lost" { send_message(#{path: "nowhere.png", channel_id: m.channel_id, sender: m.sender, recipients: [m.sender]}); }
    if text == "spin" { loop {} }
    store(m.channel_id, "notes").set("last", text);
    after(600000, "noted", m.channel_id);
    request(#{url: "http://127.0.0.1:9/nothing"}, "noted");
}
fn noted(x) {}
fn on_spell(value) {
    this.spells += 1;
    if value == "fail" { throw "asked to fail"; }
    #{got: value, spells: this.spells}
}
"#;

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The value of the first sample of `family` whose labels contain `labels`.
fn sample(text: &str, family: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(family) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_status_and_spells() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], SCRIPT);
    svc.set_service_key("reconnect_min_ms", json!(2000));
    svc.set_service_key("reconnect_max_ms", json!(2000));
    svc.set_service_key("http_allow", json!(["127.0.0.1:9"]));
    svc.set_config_key("db_config", json!([{"name": "notes"}]));
    svc.set_config_key("script_limits", json!({"max_operations": 100000}));
    let dir = svc.path().display().to_string();
    let _host = HostProcess::spawn_with_env(
        &["run", "--dir", &dir, "--admin", "127.0.0.1:0"],
        svc.path(),
        None,
        &[("RUST_LOG", "info")],
    );
    let (url, token) = admin_endpoint(svc.path()).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(svc.path().join("data/admin.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is the owner's only");
    }
    wait_for("ready", || async {
        (get(&format!("{url}/readyz"), None).await.0 == 200).then_some(())
    })
    .await;
    let (code, body) = get(&format!("{url}/healthz"), None).await;
    assert_eq!(code, 200, "{body}");

    // Without the token: 401 for everything but the probes.
    for path in ["/metrics", "/status"] {
        assert_eq!(get(&format!("{url}{path}"), None).await.0, 401, "{path}");
        assert_eq!(
            get(&format!("{url}{path}"), Some("wrong")).await.0,
            401,
            "{path}"
        );
    }
    let unauthorized = reqwest::Client::new()
        .post(format!("{url}/spell"))
        .json(&json!("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);

    // Metrics move with the workload.
    let (_, before) = get(&format!("{url}/metrics"), Some(&token)).await;
    for _ in 0..3 {
        assert!(refresh_answered(&c, "alice", &ch, "alice's refresh is answered").await);
    }
    for text in ["hello", "boom", "lost", "spin"] {
        say(&c, "alice", &ch, text, &["alice"]).await;
    }
    let script = svc.path().join("scripts/service.rhai");
    std::fs::write(&script, format!("{SCRIPT}\n// v2\n")).unwrap();
    wait_for("a reload", || async {
        let (_, text) = get(&format!("{url}/metrics"), Some(&token)).await;
        sample(&text, "moobius_reloads_total", "outcome=\"ok\"").map(|_| ())
    })
    .await;
    std::fs::write(&script, "fn on_refresh(a) { let x = ; }").unwrap();
    wait_for("a failed reload", || async {
        let (_, text) = get(&format!("{url}/metrics"), Some(&token)).await;
        sample(&text, "moobius_reloads_total", "outcome=\"failed\"").map(|_| ())
    })
    .await;
    std::fs::write(&script, SCRIPT).unwrap();
    let after = wait_for("the metrics show the workload", || async {
        let (_, text) = get(&format!("{url}/metrics"), Some(&token)).await;
        let limit = sample(&text, "moobius_handler_errors_total", "kind=\"limit\"")?;
        let requests = sample(&text, "moobius_requests_in_flight", "")?;
        (limit >= 1.0 && requests == 0.0).then_some(text)
    })
    .await;
    for (family, _) in moobius_host::metrics::FAMILIES {
        // No reconnect or deploy here; the cluster's families are a cluster
        // node's (tests/cluster_run.rs), deploys tests/deploy_lone.rs's.
        let elsewhere = ["moobius_reconnects_total", "moobius_deploys_total"];
        if !elsewhere.contains(family) && !family.starts_with("moobius_cluster_") {
            assert!(
                after.contains(&format!("# TYPE {family} ")),
                "{family} missing:\n{after}"
            );
        }
    }
    let grew = |family: &str, labels: &str, by: f64| {
        let was = sample(&before, family, labels).unwrap_or(0.0);
        let now = sample(&after, family, labels).unwrap_or(0.0);
        assert!(now >= was + by, "{family}{{{labels}}}: {was} -> {now}");
    };
    // (family without its prefix, labels, at least this much more)
    #[rustfmt::skip]
    let growth = [
        ("events_received_total", "type=\"refresh\"", 3.0),
        ("events_received_total", "type=\"message_up\"", 3.0),
        ("handler_calls_total", "handler=\"on_refresh\"", 3.0),
        ("handler_duration_seconds_count", "handler=\"on_refresh\"", 3.0),
        ("handler_errors_total", "kind=\"runtime\"", 1.0),
        ("handler_errors_total", "kind=\"limit\"", 1.0),
        ("handler_errors_total", "kind=\"host_call\"", 1.0),
        ("frames_sent_total", "kind=\"characters\"", 3.0),
        ("store_operations_total", "op=\"set\"", 1.0),
        ("store_commits_total", "", 1.0),
        ("reloads_total", "outcome=\"ok\"", 1.0),
        ("reloads_total", "outcome=\"failed\"", 1.0),
        ("token_renewals_total", "kind=\"sign_in\",outcome=\"ok\"", 0.0),
    ];
    for (family, labels, by) in growth {
        grew(&format!("moobius_{family}"), labels, by);
    }
    assert!(sample(&after, "moobius_timers_pending", "").unwrap_or(0.0) >= 1.0);
    assert!(sample(&after, "moobius_group_cache_misses_total", "").unwrap_or(0.0) >= 1.0);
    assert!(sample(&after, "moobius_group_cache_bytes", "").unwrap_or(0.0) > 0.0);
    assert_eq!(
        sample(&after, "moobius_link_state", "state=\"live\""),
        Some(1.0)
    );
    assert!(sample(&after, "moobius_process_resident_memory_bytes", "").unwrap_or(0.0) > 1e6);

    // Status.
    let (code, status) = get(&format!("{url}/status"), Some(&token)).await;
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["link"], "live");
    assert!(
        status["script"]["version"].as_u64().unwrap_or(0) >= 2,
        "{status}"
    );
    assert_eq!(status["channels"][0]["channel_id"], ch.as_str());
    assert_eq!(status["channels"][0]["members"], 1);

    // A spell round-trips, through HTTP and through the command.
    let spelled: Value = reqwest::Client::new()
        .post(format!("{url}/spell"))
        .bearer_auth(&token)
        .json(&json!({"kick": "bob"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        spelled,
        json!({"ok": {"got": {"kick": "bob"}, "spells": 1}})
    );
    let out = Command::new(binary())
        .args(["spell", "--dir", &dir, "\"hello\""])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"got":"hello","spells":2}"#
    );
    let failed = Command::new(binary())
        .args(["spell", "--dir", &dir, "\"fail\""])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("asked to fail"));

    // Readiness follows the connection: not ready while the sandbox drops
    // it, ready again after.
    // (The service waits 2 s before reconnecting, see reconnect_min_ms.)
    c.inject_faults(FaultRequest {
        drop_connections: true,
        ..FaultRequest::default()
    })
    .unwrap();
    wait_for("not ready while disconnected", || async {
        (get(&format!("{url}/readyz"), None).await.0 == 503).then_some(())
    })
    .await;
    wait_for("ready again", || async {
        (get(&format!("{url}/readyz"), None).await.0 == 200).then_some(())
    })
    .await;
    let (_, text) = get(&format!("{url}/metrics"), Some(&token)).await;
    assert!(sample(&text, "moobius_reconnects_total", "").unwrap_or(0.0) >= 1.0);
    // A refused token: the host signs in again.
    let signed = |t: &str| {
        sample(
            t,
            "moobius_token_renewals_total",
            "kind=\"sign_in\",outcome=\"ok\"",
        )
        .unwrap_or(0.0)
    };
    let was = signed(&text);
    c.inject_faults(FaultRequest {
        reject_tokens: true,
        drop_connections: true,
        ..FaultRequest::default()
    })
    .unwrap();
    wait_for("a sign-in after the refused token", || async {
        let (_, t) = get(&format!("{url}/metrics"), Some(&token)).await;
        (signed(&t) > was).then_some(())
    })
    .await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_admin_address_needs_admin_public() {
    let sandbox = start_sandbox().await;
    let ch = lobby(&sandbox, &[]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], SCRIPT);
    svc.set_service_key("admin", json!("0.0.0.0:0"));
    let out = Command::new(binary())
        .args(["run", "--dir", &svc.path().display().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not loopback") && err.contains("--admin-public"),
        "{err}"
    );
    assert!(
        !svc.path().join("data/admin.token").exists(),
        "no token written"
    );
}
