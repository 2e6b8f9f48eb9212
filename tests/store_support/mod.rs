//! Helpers for the store tests: a service script that writes and reports
//! its store, and a real Redis server (`MOOBIUS_TEST_REDIS_URL`, else a
//! `redis-server` started here on a free loopback port and stopped after).

#![allow(dead_code)]

use crate::common::*;
use moobius_host::sandbox::SandboxControl;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn answers(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

pub fn redis() -> Option<Redis> {
    if let Ok(url) = std::env::var("MOOBIUS_TEST_REDIS_URL") {
        if answers(&url) {
            return Some(Redis {
                url,
                child: None,
                _dir: None,
            });
        }
        println!("MOOBIUS_TEST_REDIS_URL={url} does not answer; starting redis-server here");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .ok()?;
    let dir = tempfile::tempdir().ok()?;
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            skip(&format!("redis-server not found or not startable ({e}); install Debian's redis-server or set MOOBIUS_TEST_REDIS_URL"));
            return None;
        }
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let server = Redis {
        url,
        child: Some(child),
        _dir: Some(dir),
    };
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if answers(&server.url) {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    skip(&format!(
        "redis-server started but did not answer on port {port}"
    ));
    None
}
