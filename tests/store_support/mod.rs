//! Helpers for the store tests: a service script that writes and reports
//! its store, and a real Redis server (`MOOBIUS_TEST_REDIS_URL`, else a
//! `redis-server` started here on a free loopback port and stopped after).

#![allow(dead_code)]

#[path = "../../examples/support/redis_server.rs"]
mod redis_server;

use crate::common::*;
use moobius_host::sandbox::SandboxControl;
use redis_server::RedisServer;
use std::time::Duration;

/// `wKEY` stores KEY in `log` and answers `ok wKEY` (after the write);
/// `add` counts in the service-wide `scores`; `dump` answers with the keys.
pub const SCRIPT: &str = r#"
fn on_message_up(message) {
    let ch = message.channel_id;
    let text = message.content.text;
    let reply = if text == "dump" {
        let out = "dump";
        for k in store(ch, "log").keys() { out += " " + k; }
        out
    } else if text == "add" {
        let scores = store("global", "scores");
        scores["n"] = (scores["n"] ?? 0) + 1;
        "n=" + scores["n"]
    } else {
        let log = store(ch, "log");
        log[text] = #{ at: message.timestamp };
        "ok " + text
    };
    send_message(reply, ch, message.sender, [message.sender]);
}
"#;

/// `user` sends `text` to themself; false when no service took it.
pub async fn send(control: &SandboxControl, user: &str, channel_id: &str, text: &str) -> bool {
    let fields = serde_json::json!({"text": text, "recipients": [user]});
    control
        .act_json(user, channel_id, "message", fields.as_object().unwrap())
        .await
        .unwrap_or(false)
}

/// The texts `user` received.
pub fn texts(control: &SandboxControl, user: &str, channel_id: &str) -> Vec<String> {
    inbox(control, user, channel_id)
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

/// Waits for a received text starting with `prefix` (the last one) and returns it.
pub async fn wait_text(
    control: &SandboxControl,
    user: &str,
    channel_id: &str,
    prefix: &str,
) -> String {
    wait_for(&format!("{user} receives {prefix}..."), || {
        let found = texts(control, user, channel_id)
            .into_iter()
            .rev()
            .find(|t| t.starts_with(prefix));
        async move { found }
    })
    .await
}

/// A Redis server for the test, or `None` (with the reason printed).
pub struct Redis {
    pub url: String,
    /// The one started here (stopped when dropped); `None` for
    /// `MOOBIUS_TEST_REDIS_URL`.
    _server: Option<RedisServer>,
}

fn answers(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// A `redis-server` of the test's own, never a shared
/// `MOOBIUS_TEST_REDIS_URL` one, started with `extra` arguments: for what
/// a shared server cannot be given (a password, a socket) and for a test
/// that reconfigures it (`CONFIG SET maxmemory...`). `None` (skipped, with
/// the reason printed) without `redis-server`.
pub fn own_redis(extra: &[&str]) -> Option<Redis> {
    match RedisServer::start_with(extra) {
        Ok(server) => Some(Redis {
            url: server.url.clone(),
            _server: Some(server),
        }),
        Err(e) => {
            skip(&format!(
                "{e:#}; install Debian's redis-server (or set MOOBIUS_TEST_REDIS_URL, for the tests that share one)"
            ));
            None
        }
    }
}

pub fn redis() -> Option<Redis> {
    if let Ok(url) = std::env::var("MOOBIUS_TEST_REDIS_URL") {
        if answers(&url) {
            return Some(Redis { url, _server: None });
        }
        println!("MOOBIUS_TEST_REDIS_URL={url} does not answer; starting redis-server here");
    }
    own_redis(&[])
}

/// Runs `CONFIG SET name value` on the server at `url`.
pub fn config_set(url: &str, name: &str, value: &str) {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .expect("the test's redis-server answers");
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query::<()>(&mut conn)
        .expect("CONFIG SET");
}

/// The field `name` of `INFO section` on the server at `url`.
pub fn info_field(url: &str, section: &str, name: &str) -> Option<String> {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .ok()?;
    let text: String = redis::cmd("INFO").arg(section).query(&mut conn).ok()?;
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.trim().to_string())
}
