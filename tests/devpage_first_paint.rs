//! The dev page's first paint: the page carries the sandbox's state, so a
//! one-shot `chromium --headless --dump-dom` / `--screenshot` (no WebDriver,
//! no waiting for the event stream) already shows every member's column with
//! what they see. Skipped, with a printed reason, where Chromium is not
//! installed.

mod devpage_support;

use std::time::{Duration, Instant};

use devpage_support::*;
use serde_json::Value;

/// The HTML of `name`'s column in a dumped DOM, if there is one.
fn column<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let start = dom.find(&format!(r#"data-name="{name}""#))?;
    let rest = &dom[start..];
    let end = rest[1..]
        .find(r#"<section class="member"#)
        .map_or(rest.len(), |i| i + 1);
    Some(&rest[..end])
}

/// Waits until the sandbox's view of `user` lists `expected`, so the page
/// served next carries it.
async fn wait_view(url: &str, user: &str, expected: &[&str]) {
    let start = Instant::now();
    let mut last = Value::Null;
    loop {
        let channels: Value = reqwest::get(format!("{url}sandbox/channels"))
            .await
            .expect("channel list")
            .json()
            .await
            .expect("JSON");
        if let Some(channel) = channels[0]["channel_id"].as_str() {
            let view = format!("{url}sandbox/view?user={user}&channel_id={channel}");
            last = reqwest::get(view)
                .await
                .expect("view")
                .json()
                .await
                .expect("JSON");
            let names: Vec<&str> = last["characters"]
                .as_array()
                .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
                .unwrap_or_default();
            if names == expected {
                return;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{user} never saw {expected:?}; last view: {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_one_shot_headless_chromium_shows_the_member_columns() {
    let Some(chromium) = chromium_tool() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::Builder::new()
        .prefix("moobius-first-paint-")
        .tempdir()
        .expect("temp dir");
    let service = service_dir(tmp.path(), "scripts/service.rhai");
    let dev = start_dev(&service, "alice,bob");
    wait_view(&dev.url, "alice", &["alice", "Meow", "bob"]).await;
    let profile = tmp.path().join("profile");

    let dom = chromium_once(&chromium, &profile, &["--dump-dom", &dev.url]);
    let alice = column(&dom, "alice").unwrap_or_else(|| panic!("no column for alice in:\n{dom}"));
    for name in ["alice", "Meow", "bob"] {
        let shown = format!(r#"<span class="name">{name}</span>"#);
        assert!(
            alice.contains(&shown),
            "alice's column lacks {name}:\n{alice}"
        );
    }
    assert!(
        alice.contains("No messages yet"),
        "no placeholder:\n{alice}"
    );
    assert!(column(&dom, "bob").is_some(), "no column for bob:\n{dom}");

    let png = tmp.path().join("first-paint.png");
    let screenshot = format!("--screenshot={}", png.display());
    chromium_once(&chromium, &profile, &[&screenshot, &dev.url]);
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");

    drop(dev);
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_dir_all(&service);
    let kept = tmp.keep();
    println!("screenshot: {}", kept.join("first-paint.png").display());
}
