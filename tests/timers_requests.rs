//! Timers and requests through the real host and sandbox: a timer keeps
//! firing across a reload and calls the new version; a hundred slow requests
//! in flight do not hold up other members; `http_allow` refuses other hosts.

mod common;
use axum::{extract::State, routing::get, Json, Router};
use common::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

const TICKER: &str = r#"
fn before_channel_init() { this.clock = create_agent("Clock"); }
fn on_message_up(m) {
    let text = m.content.text;
    if text == "start" { this.timer = every(50, "tick", m.channel_id); }
    if text == "count" { send_message(`pending ${timers().len()}`, m.channel_id, this.clock, m.sender); }
}
fn tick(ch) { send_message("v1 tick", ch, this.clock, fetch_member_ids(ch)); }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_keeps_firing_across_a_reload_and_calls_the_new_version() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, svc, _host) = lobby_with_host(&sandbox, &["alice"], |ch| {
        ServiceDir::with_script(&sandbox, &[ch], TICKER)
    })
    .await;
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "start", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Clock", "v1 tick").await;
    let script = svc.path().join("scripts/service.rhai");
    std::fs::write(&script, TICKER.replace("v1 tick", "v2 tick")).unwrap();
    wait_message(&c, "alice", &ch, "Clock", "v2 tick").await;
    say(&c, "alice", &ch, "count", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Clock", "pending 1").await;
}

/// A JSON API that holds every answer until the test opens the gate, and
/// counts the requests that reached it.
struct SlowApi {
    arrived: AtomicUsize,
    gate: watch::Receiver<bool>,
}

async fn slow_answer(State(api): State<Arc<SlowApi>>) -> Json<serde_json::Value> {
    let n = api.arrived.fetch_add(1, Ordering::SeqCst);
    let mut gate = api.gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    Json(json!({"answer": n}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_requests_in_flight_do_not_hold_up_other_members() {
    let (open, gate) = watch::channel(false);
    let api = Arc::new(SlowApi {
        arrived: AtomicUsize::new(0),
        gate,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/answer", get(slow_answer))
        .with_state(api.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let script = format!(
        r#"
fn before_channel_init() {{ this.bot = create_agent("Bot"); this.answers = 0; }}
fn on_refresh(a) {{ send_characters([this.bot, a.sender], a.channel_id, a.sender); }}
fn on_message_up(m) {{
    for i in 0..100 {{
        request(#{{url: "http://127.0.0.1:{port}/answer"}}, "answered", m.channel_id);
    }}
}}
fn answered(response, ch) {{
    if response.status == 200 {{ this.answers += 1; }}
    if this.answers == 100 {{ send_message("all 100 answered", ch, this.bot, fetch_member_ids(ch)); }}
}}
"#
    );
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, svc, _host) = lobby_with_host(&sandbox, &["alice", "bob"], |ch| {
        let svc = ServiceDir::with_script(&sandbox, &[ch], &script);
        svc.set_service_key("http_allow", json!([format!("127.0.0.1:{port}")]));
        svc
    })
    .await;
    let _ = &svc;
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "ask a hundred", &["alice"]).await;
    wait_for("100 requests reach the API at once", || async {
        (api.arrived.load(Ordering::SeqCst) == 100).then_some(())
    })
    .await;
    // All hundred are held; bob's refreshes are served meanwhile.
    for _ in 0..5 {
        assert!(refresh_answered(&c, "bob", &ch, "bob's refresh is answered").await);
    }
    assert!(inbox(&c, "alice", &ch).is_empty(), "no answer yet");
    assert_eq!(api.arrived.load(Ordering::SeqCst), 100);
    open.send(true).unwrap();
    wait_message(&c, "alice", &ch, "Bot", "all 100 answered").await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_host_outside_http_allow_is_a_script_error() {
    let script = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); }
fn on_message_up(m) {
    try {
        request(#{url: "http://127.0.0.2:9/anything"}, "never");
    } catch (e) {
        send_message(`${e}`, m.channel_id, this.bot, m.sender);
    }
}
"#;
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, _svc, _host) = lobby_with_host(&sandbox, &["alice"], |ch| {
        let svc = ServiceDir::with_script(&sandbox, &[ch], script);
        svc.set_service_key("http_allow", json!(["api.example.com"]));
        svc
    })
    .await;
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "try", &["alice"]).await;
    wait_message(
        &c,
        "alice",
        &ch,
        "Bot",
        "request: 127.0.0.2:9 is not in service_config.http_allow",
    )
    .await;
}

const LIMITS: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); }
fn on_message_up(m) {
    let text = m.content.text;
    if text == "flood" {
        try {
            for i in 0..10001 { after(3600000, "later"); }
        } catch (e) {
            send_message(`${e}`, m.channel_id, this.bot, m.sender);
        }
    }
    if text == "missing" { every(10, "nowhere"); }
    if text == "count" { send_message(`pending ${timers().len()}`, m.channel_id, this.bot, m.sender); }
}
fn later() {}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_timers_are_capped_and_a_missing_function_drops_its_timer() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, _svc, host) = lobby_with_host(&sandbox, &["alice"], |ch| {
        ServiceDir::with_script(&sandbox, &[ch], LIMITS)
    })
    .await;
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "missing", &["alice"]).await;
    host.wait_logged(
        "the missing function is reported",
        &["defines no function nowhere"],
    )
    .await;
    say(&c, "alice", &ch, "count", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Bot", "pending 0").await;

    say(&c, "alice", &ch, "flood", &["alice"]).await;
    let cap = moobius_host::script::MAX_PENDING_TIMERS;
    let refusal = format!("after: {cap} timers are already pending (the limit); cancel some first");
    wait_message(&c, "alice", &ch, "Bot", &refusal).await;
    say(&c, "alice", &ch, "count", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Bot", &format!("pending {cap}")).await;
    let reports = host.log().matches("defines no function nowhere").count();
    assert_eq!(reports, 1, "reported once, then dropped");
}

const LIMITED: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); }
fn on_message_up(m) {
    let path = m.content.text;
    request(#{url: `http://127.0.0.1:PORT/${path}`, timeout_ms: 200}, "done", m);
}
fn done(response, m) {
    send_message(`${response.status} ${response.error}`, m.channel_id, this.bot, m.sender);
}
"#;

async fn silent() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

async fn big() -> String {
    "x".repeat(100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_times_out_or_answers_too_much_still_calls_back() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/silent", get(silent))
        .route("/big", get(big));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let script = LIMITED.replace("PORT", &port.to_string());
    let (ch, _svc, _host) = lobby_with_host(&sandbox, &["alice"], |ch| {
        let svc = ServiceDir::with_script(&sandbox, &[ch], &script);
        svc.set_service_key("request_max_bytes", json!(10));
        svc.set_service_key("http_allow", json!([format!("127.0.0.1:{port}")]));
        svc
    })
    .await;
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, "silent", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Bot", "0 timed out after 200 ms").await;
    say(&c, "alice", &ch, "big", &["alice"]).await;
    let cut = "200 response body over 10 bytes (service_config.request_max_bytes)";
    wait_message(&c, "alice", &ch, "Bot", cut).await;
    server.abort();
}
