//! The sandbox as a platform keeps users apart: the token decides who sends,
//! and one user cannot read another's messages through the API. And the host
//! survives runaway handlers with the next event handled correctly.

mod common;
use common::user::*;
use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const ECHO: &str = r#"
fn on_message_up(m) {
    let t = m.content.text;
    if t == "spin" { loop { } }
    if t == "deep" { this.deep(0); }
    if t == "grow" { let s = "x"; loop { s += s; } }
    send_message(m);
}
fn deep(n) { this.deep(n + 1) }
fn on_refresh(a) { send_characters([a.sender], a.channel_id, a.sender); }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_decides_who_sends_and_history_is_private() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    let (mut alice_ws, alice_token) = user_socket(&sandbox, "alice").await;
    let bob = c.create_user("bob").user_id;
    c.create_user("carol");
    for m in ["alice", "bob", "carol"] {
        c.act(m, &ch, "join").await.unwrap();
    }
    let svc = ServiceDir::with_script(&sandbox, &[&ch], ECHO);
    let _host = svc.run_host();
    wait_served(&c, &ch).await;

    // alice's client claims to be bob: the platform sends it as alice.
    let group = post(
        &format!("{}user/group/create", sandbox.http_url()),
        Some(&alice_token),
        json!({"channel_id": ch, "group_name": "g", "characters": [bob.clone()]}),
    )
    .await["data"]["group_id"]
        .as_str()
        .unwrap()
        .to_string();
    let frame = json!({"type": "message_up", "request_id": "m1", "user_id": bob, "service_id": bob,
        "body": {"subtype": "text", "channel_id": ch, "content": {"text": "I am bob"}, "recipients": group,
                 "sender": bob, "timestamp": 1, "context": {}}});
    alice_ws
        .send(Message::text(frame.to_string()))
        .await
        .unwrap();
    wait_message(&c, "bob", &ch, "alice", "I am bob").await;

    // carol was not a recipient: her history does not show it.
    say(&c, "bob", &ch, "for alice only", &["alice"]).await;
    wait_message(&c, "alice", &ch, "bob", "for alice only").await;
    let token = sign_in(&sandbox, "carol").await;
    let url = format!(
        "{}channel/history_message?channel_id={ch}&limit=100",
        sandbox.http_url()
    );
    let history = json_answer(reqwest::Client::new().get(url).bearer_auth(token)).await;
    let texts: Vec<String> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"]["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        !texts
            .iter()
            .any(|t| t == "for alice only" || t == "I am bob"),
        "carol reads others' messages: {texts:?}"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_handlers_are_stopped_and_the_next_event_is_served() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], ECHO);
    svc.set_config_key("script_limits", json!({"timeout_ms": 200}));
    let host = svc.run_host();
    wait_served(&c, &ch).await;
    for (text, limit) in [
        ("spin", "timeout_ms"),
        ("deep", "max_call_levels"),
        ("grow", "max_string_size"),
    ] {
        say(&c, "alice", &ch, text, &["alice"]).await;
        say(&c, "alice", &ch, &format!("after {text}"), &["alice"]).await;
        wait_message(&c, "alice", &ch, "alice", &format!("after {text}")).await;
        let log = host.log();
        assert!(
            log.contains("on_message_up aborted")
                && log.contains(&format!("(script_limits.{limit})")),
            "{text}: {log}"
        );
    }
    c.act("alice", &ch, "refresh").await.unwrap();
    wait_sees(&c, "alice", &ch, &["alice"]).await;
    sandbox.shutdown().await;
}
