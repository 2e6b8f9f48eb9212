//! User mode: a Rhai bot runs as a member (`service_mode: false`) in a
//! channel served by a second host, against the real sandbox. It joins at
//! start, receives the service's character list and messages through its
//! handlers, and answers through `send_message_up`. Then the same bot on the
//! Python SDK's user mode, beside it: the same actions, the same
//! observations.

mod common;
use common::python::SdkSandbox;
use common::*;
use serde_json::json;

const PING_USER_PY: &str = include_str!("python/ping_user.py");

const BOT: &str = r#"
fn before_channel_init() { this.seen = []; }
fn on_update_characters(update) { this.seen = update.content.characters; }
fn on_message_down(message) {
    if message.content.text == "ping lol~" {
        send_message_up(`pong, I see ${this.seen.len()}`, message.channel_id, [message.sender]);
    }
    if message.content.text == "leave lol~" { leave_channel(message.channel_id); }
    if message.content.text == "serve lol~" {
        try { send_characters(["x"], message.channel_id, message.sender); }
        catch (e) { send_message_up(`${e}`, message.channel_id, [message.sender]); }
    }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_mode_bot_joins_hears_and_answers() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, _service, _host) = lobby_with_host(&sandbox, &["alice"], |ch| {
        ServiceDir::with_script(&sandbox, &[ch], &example("meow"))
    })
    .await;
    wait_served(&c, &ch).await;
    refresh_until(&c, "alice", &ch, &["Meow", "alice"]).await;

    let bot = ServiceDir::with_script(&sandbox, &[&ch], BOT);
    bot.set_account("robot@bots.local");
    bot.set_service_key("service_mode", json!(false));
    let bot_host = bot.run_host();
    bot_host
        .wait_logged("the bot signs in as a user", &["signed in as a user"])
        .await;
    wait_sees(&c, "alice", &ch, &["Meow", "alice", "robot"]).await;

    say(&c, "alice", &ch, "ping", &["robot"]).await;
    wait_message(&c, "alice", &ch, "robot", "pong, I see 3 lol~").await;

    say(&c, "alice", &ch, "serve", &["robot"]).await;
    let refused = "send_characters is a service's function; this script runs in user mode (service_mode: false) lol~";
    wait_message(&c, "alice", &ch, "robot", refused).await;

    say(&c, "alice", &ch, "leave", &["robot"]).await;
    wait_sees(&c, "alice", &ch, &["Meow", "alice"]).await;
    let log = bot_host.log();
    assert!(!log.contains(" ERROR "), "{log}");
}

/// The Rhai bot of the parity test: `tests/python/ping_user.py` in Rhai.
const PARITY_BOT: &str = r#"
fn on_message_down(message) {
    let text = message.content.text;
    if text == "ping lol~" { send_message_up("pong", message.channel_id, [message.sender]); }
    if text == "leave lol~" { leave_channel(message.channel_id); }
}
"#;

/// The names `user` sees, sorted (the bots join in no fixed order).
fn sorted_sees(c: &moobius_host::sandbox::SandboxControl, user: &str, ch: &str) -> Vec<String> {
    let mut names = sees(c, user, ch);
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rhai_bot_and_the_python_sdk_user_mode_do_and_see_the_same() {
    let Some(sdk) = SdkSandbox::start().await else {
        return;
    };
    let c = sdk.sandbox.control();
    let (ch, _service, _host) = lobby_with_host(&sdk.sandbox, &["alice"], |ch| {
        ServiceDir::with_script(&sdk.sandbox, &[ch], &example("meow"))
    })
    .await;
    wait_served(&c, &ch).await;
    refresh_until(&c, "alice", &ch, &["Meow", "alice"]).await;

    let rhai = ServiceDir::with_script(&sdk.sandbox, &[&ch], PARITY_BOT);
    rhai.set_account("robot@bots.local");
    rhai.set_service_key("service_mode", json!(false));
    let _rhai_host = rhai.run_host();
    let _python = sdk.run(
        "ping_user.py",
        PING_USER_PY,
        json!({"email": "pybot@bots.local", "password": "pw-for-tests"}),
        json!({"channels": [ch], "service_mode": false}),
    );
    let everyone = ["Meow", "alice", "pybot", "robot"];
    wait_for("both bots joined", || async {
        (sorted_sees(&c, "alice", &ch) == everyone).then_some(())
    })
    .await;

    say(&c, "alice", &ch, "ping", &["robot", "pybot"]).await;
    wait_message(&c, "alice", &ch, "robot", "pong lol~").await;
    wait_message(&c, "alice", &ch, "pybot", "pong lol~").await;
    let view = c.view("alice", &ch).unwrap();
    let pong = |from: &str| {
        let m = view
            .messages
            .iter()
            .find(|m| m.sender_name == from && m.content["text"] == "pong lol~")
            .unwrap();
        (m.subtype.clone(), m.content.clone())
    };
    assert_eq!(
        pong("robot"),
        pong("pybot"),
        "the same message from both bots"
    );

    say(&c, "alice", &ch, "leave", &["robot", "pybot"]).await;
    wait_for("both bots left", || async {
        (sorted_sees(&c, "alice", &ch) == ["Meow", "alice"]).then_some(())
    })
    .await;
    assert_eq!(member_names(&c, &ch), ["alice"], "both left the channel");
    sdk.shutdown().await;
}
