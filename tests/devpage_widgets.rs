//! The dev page's widgets in a real browser, on the example services:
//! a button's dialog (buttons.rhai), and the canvas, sending a message to
//! chosen characters and the right-click menu (menucanvas.rhai), and a
//! canvas text's line breaks (kept, as text). Skipped,
//! with a printed reason, where Chromium or chromedriver is not installed.

mod devpage_support;

use devpage_support::*;
use fantoccini::Locator;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_dialog_sends_its_values() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let service = service_dir(tmp.path(), "scripts/examples/buttons.rhai");
    let dev = start_dev(&service, "alice");
    let browser = start_browser(&chromium, &chromedriver, &tmp.path().join("profile")).await;
    let client = &browser.client;
    client.goto(&dev.url).await.expect("open the dev page");

    let fruit = r#"section.member[data-name="alice"] button[data-button-id="fruit"]"#;
    wait_js(
        client,
        "alice's Pick a fruit button",
        "return !!document.querySelector(arguments[0]);",
        vec![json!(fruit)],
    )
    .await;
    click_css(client, fruit).await;
    wait_js(
        client,
        "the dialog opens",
        "return document.getElementById('dialog').open;",
        vec![],
    )
    .await;
    let dropdown = client
        .find(Locator::Id("dialog-field-0"))
        .await
        .expect("dropdown");
    dropdown
        .select_by_value("banana")
        .await
        .expect("choose banana");
    let note = client
        .find(Locator::Id("dialog-field-1"))
        .await
        .expect("text field");
    note.send_keys("ripe").await.expect("type");
    let ok = client
        .find(Locator::Css(r#"#dialog-form button[value="confirm"]"#))
        .await;
    ok.expect("OK button").click().await.expect("submit");
    wait_js(
        client,
        "alice is answered with her choice",
        &format!(
            "const all = (() => {{ {MESSAGES} }})(); \
             return all.some((m) => m.includes('Fruit=banana') && m.includes('Note=ripe'));"
        ),
        vec![json!("alice")],
    )
    .await;
    assert_no_error(client).await;
    let _ = browser.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canvas_messages_and_the_right_click_menu() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let service = service_dir(tmp.path(), "scripts/examples/menucanvas.rhai");
    let dev = start_dev(&service, "alice,bob");
    let browser = start_browser(&chromium, &chromedriver, &tmp.path().join("profile")).await;
    let client = &browser.client;
    client.goto(&dev.url).await.expect("open the dev page");

    wait_js(
        client,
        "bob's canvas shows the text and the image, expanded",
        r#"const c = document.querySelector('section.member[data-name="bob"] details.canvas');
           return c.open && c.textContent.includes('Right-click a message')
             && !!c.querySelector('img[src*="/files/"]');"#,
        vec![],
    )
    .await;

    // bob writes to alice only: he unticks himself and Guide.
    wait_sees(client, "bob", &["alice", "bob", "Guide"]).await;
    // Found, checked and clicked in one script: a column re-rendered between
    // finding and clicking would otherwise leave a stale element.
    for (nth, name) in [(2, "bob"), (3, "Guide")] {
        let css = format!(r#"section.member[data-name="bob"] .recipients label:nth-child({nth})"#);
        wait_js(
            client,
            &format!("bob unticks {name}"),
            r#"const l = document.querySelector(arguments[0]);
               if (!l || l.textContent.trim() !== arguments[1]) return false;
               const box = l.querySelector('input');
               if (box && box.checked) l.click();
               return !!box && !box.checked;"#,
            vec![json!(css), json!(name)],
        )
        .await;
    }
    let text = r#"section.member[data-name="bob"] textarea"#;
    let input = client.find(Locator::Css(text)).await.expect("message box");
    input.send_keys("hi alice").await.expect("type");
    let send = r#"section.member[data-name="bob"] form.send button[type="submit"]"#;
    client
        .find(Locator::Css(send))
        .await
        .expect("send")
        .click()
        .await
        .expect("click");
    wait_message(client, "alice", "bob: hi alice").await;
    let bob_got = client
        .execute(
            &format!("return (() => {{ {MESSAGES} }})();"),
            vec![json!("bob")],
        )
        .await
        .expect("bob's messages");
    assert_eq!(bob_got, json!([]), "bob was not a recipient");
    wait_sent(client, "bob", "you → alice: hi alice").await;

    // Right-click alice's message: the text items only, then Quote.
    client
        .execute(
            r#"const m = document.querySelector('section.member[data-name="alice"] .messages li.received');
               const r = m.getBoundingClientRect();
               m.dispatchEvent(new MouseEvent('contextmenu',
                 {bubbles: true, cancelable: true, clientX: r.left + 10, clientY: r.top + 10}));"#,
            vec![],
        )
        .await
        .expect("right-click");
    let items = wait_js(
        client,
        "the menu opens",
        "const m = document.getElementById('menu'); \
         return m.hidden ? null : [...m.querySelectorAll('button')].map((b) => b.textContent);",
        vec![],
    )
    .await;
    assert_eq!(items, json!(["Quote", "Info"]));
    let quote = Locator::XPath("//div[@id='menu']/button[.='Quote']");
    client
        .find(quote)
        .await
        .expect("Quote")
        .click()
        .await
        .expect("click");
    wait_message(client, "alice", "Guide: quote: hi alice").await;
    assert_no_error(client).await;
    let _ = browser.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canvas_text_keeps_its_line_breaks_as_text() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let service = service_dir(tmp.path(), "scripts/service.rhai");
    // Two lines, and markup that must stay text.
    let script = r#"fn on_join(action) {
    send_canvas([#{ text: "first line\nsecond <b>line</b>" }], action.channel_id, action.sender);
}
"#;
    std::fs::write(service.join("scripts/service.rhai"), script).expect("write the script");
    let dev = start_dev(&service, "alice");
    let browser = start_browser(&chromium, &chromedriver, &tmp.path().join("profile")).await;
    let client = &browser.client;
    client.goto(&dev.url).await.expect("open the dev page");

    // innerText is the text as rendered: a collapsed line break reads as a space.
    let shown = wait_js(
        client,
        "alice's canvas shows the text",
        r#"const f = document.querySelector('section.member[data-name="alice"] .canvas figcaption');
           return f && f.textContent.includes('first line') ? [f.innerText, f.children.length] : null;"#,
        vec![],
    )
    .await;
    assert_eq!(shown, json!(["first line\nsecond <b>line</b>", 0]));
    assert_no_error(client).await;
    let _ = browser.client.clone().close().await;
}
