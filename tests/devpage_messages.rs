//! The dev page's messages box in a real browser (headless Chromium over
//! WebDriver, against `moobius-host dev`): it says so when empty, a member's
//! own messages appear in their column (from the sandbox, also after a
//! reload), and it keeps the newest message in sight unless the reader
//! scrolled up. Skipped, with a printed reason, where Chromium or
//! chromedriver is not installed.

mod devpage_support;

use devpage_support::*;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

/// The dev page open in a browser, on `script` with `members`.
struct Page {
    dev: Dev,
    browser: Browser,
    channel: String,
    _tmp: tempfile::TempDir,
}

async fn open(script: &str, members: &str) -> Option<Page> {
    let (chromium, chromedriver) = browser_tools()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir().expect("temp dir");
    let service = service_dir(tmp.path(), script);
    let dev = start_dev(&service, members);
    let channels: Value = reqwest::get(format!("{}sandbox/channels", dev.url))
        .await
        .expect("channel list")
        .json()
        .await
        .expect("JSON");
    let channel = channels[0]["channel_id"].as_str().expect("a channel");
    let browser = start_browser(&chromium, &chromedriver, &tmp.path().join("profile")).await;
    browser
        .client
        .goto(&dev.url)
        .await
        .expect("open the dev page");
    Some(Page {
        channel: channel.to_string(),
        dev,
        browser,
        _tmp: tmp,
    })
}

impl Page {
    /// `from` sends `text` to `to` through the control API (not the page).
    async fn say(&self, from: &str, to: &str, text: &str) {
        let answer = reqwest::Client::new()
            .post(format!("{}sandbox/act", self.dev.url))
            .json(
                &json!({"user": from, "channel_id": self.channel, "action": "message",
                          "text": text, "recipients": [to]}),
            )
            .send()
            .await
            .expect("control API");
        assert!(answer.status().is_success(), "{from} could not send");
    }

    async fn close(self) {
        assert_no_error(&self.browser.client).await;
        let _ = self.browser.client.clone().close().await;
    }
}

/// `member`'s messages box: the placeholder, the list and its scroll state.
const BOX: &str = r#"
const col = document.querySelector(`section.member[data-name="${arguments[0]}"]`);
if (!col) return null;
const p = col.querySelector(".no-messages"), l = col.querySelector("ol.messages");
return {placeholder: p.hidden ? null : p.textContent, placeholder_shown: p.offsetHeight > 0,
  received: l.querySelectorAll("li.received").length, sent: l.querySelectorAll("li.sent").length,
  top: l.scrollTop, client: l.clientHeight, height: l.scrollHeight, stick: l.dataset.stick};"#;

async fn messages_box(client: &Client, member: &str) -> Value {
    client
        .execute(BOX, vec![json!(member)])
        .await
        .expect("read the messages box")
}

/// Waits until `member`'s box holds `received` received and `sent` sent messages.
async fn wait_counts(client: &Client, member: &str, received: usize, sent: usize) -> Value {
    let script = format!(
        "const b = (() => {{ {BOX} }})(); \
         return b && b.received === arguments[1] && b.sent === arguments[2] ? b : null;"
    );
    let what = format!("{member}'s box holds {received} received and {sent} sent");
    let args = vec![json!(member), json!(received), json!(sent)];
    wait_js(client, &what, &script, args).await
}

/// Asserts the box shows its last message: scrollTop + clientHeight ≈ scrollHeight.
fn assert_at_bottom(b: &Value, what: &str) {
    let (top, client, height) = (
        b["top"].as_f64(),
        b["client"].as_f64(),
        b["height"].as_f64(),
    );
    let (Some(top), Some(client), Some(height)) = (top, client, height) else {
        panic!("{what}: no scroll metrics in {b}");
    };
    assert!(height > client, "{what}: the box does not overflow: {b}");
    assert!(
        (top + client - height).abs() <= 2.0,
        "{what}: not at the newest: {b}"
    );
}

/// Scrolls `member`'s box to `top` as a reader would, and waits until the
/// page noticed (its `data-stick`).
async fn scroll_box(client: &Client, member: &str, top: &str, stick: &str) {
    let script = format!(
        "const l = document.querySelector(`section.member[data-name=\"${{arguments[0]}}\"] ol.messages`); \
         l.scrollTop = {top};"
    );
    client
        .execute(&script, vec![json!(member)])
        .await
        .expect("scroll");
    let check = format!("const b = (() => {{ {BOX} }})(); return b.stick === arguments[1];");
    let what = format!("{member}'s box notices the scroll (stick = {stick})");
    wait_js(client, &what, &check, vec![json!(member), json!(stick)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_messages_box_says_no_messages_yet() {
    let Some(page) = open("scripts/service.rhai", "alice,bob").await else {
        return;
    };
    let client = &page.browser.client;
    wait_sees(client, "alice", &["alice", "Meow", "bob"]).await;
    for member in ["alice", "bob"] {
        let b = messages_box(client, member).await;
        assert_eq!(b["placeholder"], "No messages yet", "{member}: {b}");
        assert_eq!(b["placeholder_shown"], true, "{member}: {b}");
    }

    // alice writes to bob (the tutorial's service does not echo): her box
    // has her message and no placeholder; bob's is still empty.
    page.say("alice", "bob", "first words").await;
    let b = wait_counts(client, "alice", 0, 1).await;
    assert_eq!(b["placeholder"], Value::Null, "{b}");
    let b = messages_box(client, "bob").await;
    assert_eq!(b["placeholder"], "No messages yet", "{b}");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_own_messages_appear_in_their_column() {
    let Some(page) = open("scripts/service.rhai", "alice,bob").await else {
        return;
    };
    let client = &page.browser.client;
    wait_sees(client, "alice", &["alice", "Meow", "bob"]).await;

    // Through the page's own box, to everyone ticked.
    let text = r#"section.member[data-name="alice"] textarea"#;
    let input = client.find(Locator::Css(text)).await.expect("message box");
    input.send_keys("hello from alice").await.expect("type");
    let send = r#"section.member[data-name="alice"] form.send button[type="submit"]"#;
    click_css(client, send).await;
    wait_sent(client, "alice", "you → alice, Meow, bob: hello from alice").await;

    // Sent from outside the page: the sandbox tells the page.
    page.say("alice", "bob", "sent by curl").await;
    wait_sent(client, "alice", "you → bob: sent by curl").await;
    let bob = messages_box(client, "bob").await;
    assert_eq!(
        (&bob["received"], &bob["sent"]),
        (&json!(0), &json!(0)),
        "{bob}"
    );

    // After a reload they are still there, in order: the sandbox's data,
    // not something the page remembered.
    client.refresh().await.expect("reload");
    wait_counts(client, "alice", 0, 2).await;
    let shown = client
        .execute(
            &format!("return (() => {{ {SENT} }})();"),
            vec![json!("alice")],
        )
        .await
        .expect("alice's sent messages");
    let want = [
        "you → alice, Meow, bob: hello from alice",
        "you → bob: sent by curl",
    ];
    assert_eq!(shown, json!(want));
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_box_keeps_the_newest_in_sight_unless_scrolled_up() {
    let Some(page) = open("scripts/examples/menucanvas.rhai", "alice,bob").await else {
        return;
    };
    let client = &page.browser.client;
    wait_sees(client, "bob", &["alice", "bob", "Guide"]).await;

    // bob writes 40 messages to alice; the service echoes each to her.
    const MANY: usize = 40;
    for i in 1..=MANY {
        page.say("bob", "alice", &format!("message {i}")).await;
    }
    let alice = wait_counts(client, "alice", MANY, 0).await;
    assert_at_bottom(&alice, "alice after many messages");
    let height = alice["client"].as_f64().unwrap_or_default();
    assert!(height >= 250.0, "the messages box is {height}px tall");
    let bob = wait_counts(client, "bob", 0, MANY).await;
    assert_at_bottom(&bob, "bob after sending many");

    // alice scrolls up to read: a new message does not move her view.
    scroll_box(client, "alice", "0", "false").await;
    page.say("bob", "alice", "while alice reads").await;
    let alice = wait_counts(client, "alice", MANY + 1, 0).await;
    assert_eq!(alice["top"], 0, "alice was yanked to the bottom: {alice}");

    // Back at the bottom, it sticks there again.
    scroll_box(client, "alice", "l.scrollHeight", "true").await;
    page.say("bob", "alice", "after alice is back").await;
    let alice = wait_counts(client, "alice", MANY + 2, 0).await;
    assert_at_bottom(&alice, "alice back at the bottom");
    page.close().await;
}
