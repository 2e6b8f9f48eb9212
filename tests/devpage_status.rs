//! The dev page's banner and handler errors, in a real browser on the real
//! `moobius-host dev`: a handler that throws turns the banner red with the
//! error's `path:line:col` and handler, as `GET /sandbox/status` counts it;
//! Dismiss turns it green until the next error, and a good save starts the
//! count afresh. Skipped, with a printed reason, where Chromium or
//! chromedriver is not installed.

mod devpage_support;

use devpage_support::*;
use fantoccini::Client;
use serde_json::{json, Value};

/// A Fail button whose click throws (line 6), and an OK button that works.
const FAILING: &str = r#"fn on_join(action) {
    send_buttons([#{ button_id: "fail", button_text: "Fail" },
                  #{ button_id: "ok", button_text: "OK" }], action.channel_id, action.sender);
}
fn on_button_click(click) {
    if click.button_id == "fail" { throw "asked to fail"; }
}
"#;

/// The banner's class and text.
const BANNER: &str =
    "const b = document.getElementById('banner'); return [b.className, b.textContent];";

/// Waits until the banner has class `class` and its text contains every one
/// of `parts`; returns its text.
async fn wait_banner(client: &Client, class: &str, parts: &[&str]) -> String {
    let script = format!(
        "const [c, t] = (() => {{ {BANNER} }})(); \
         return c === arguments[0] && arguments[1].every((p) => t.includes(p)) ? t : null;"
    );
    let what = format!("the banner is {class:?} and shows {parts:?}");
    let text = wait_js(client, &what, &script, vec![json!(class), json!(parts)]).await;
    text.as_str().unwrap_or_default().to_string()
}

/// `GET /sandbox/status` as the page's origin answers it.
async fn status(client: &Client) -> Value {
    let script = "fetch('/sandbox/status').then((r) => r.json()).then((s) => arguments[0](s));";
    client
        .execute_async(script, vec![])
        .await
        .expect("GET /sandbox/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_error_turns_the_banner_red_until_dismissed_or_reloaded() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let service = service_dir(tmp.path(), "scripts/service.rhai");
    let script = service.join("scripts/service.rhai");
    std::fs::write(&script, FAILING).expect("write the script");
    let dev = start_dev(&service, "alice");
    let browser = start_browser(&chromium, &chromedriver, &tmp.path().join("profile")).await;
    let client = &browser.client;
    client.goto(&dev.url).await.expect("open the dev page");
    wait_banner(client, "banner ok", &["Script version 1"]).await;

    let fail = r#"section.member[data-name="alice"] button[data-button-id="fail"]"#;
    click_css(client, fail).await;
    let shown = wait_banner(
        client,
        "banner error",
        &["1 handler error in script version 1", "asked to fail"],
    )
    .await;
    assert!(
        shown.contains("scripts/service.rhai:6:") && shown.contains("on_button_click"),
        "the banner does not say where and in which handler: {shown}"
    );
    let counted = status(client).await;
    assert_eq!(counted["status"]["handler_errors"], json!(1), "{counted}");

    // Dismissed: green, still counting; the next error turns it red again.
    click_css(client, "#banner button.dismiss").await;
    wait_banner(client, "banner ok", &["1 handler error since dev started"]).await;
    click_css(client, fail).await;
    wait_banner(
        client,
        "banner error",
        &["1 handler error in script version 1"],
    )
    .await;
    click_css(client, fail).await;
    wait_banner(
        client,
        "banner error",
        &["2 handler errors in script version 1"],
    )
    .await;

    // A good save: the new version has no errors yet.
    let fixed = FAILING.replace("throw \"asked to fail\";", "");
    std::fs::write(script.with_extension("tmp"), fixed).expect("write");
    std::fs::rename(script.with_extension("tmp"), &script).expect("save");
    wait_banner(
        client,
        "banner ok",
        &["Script version 2", "3 handler errors since dev started"],
    )
    .await;
    assert_no_error(client).await;
    let _ = browser.client.clone().close().await;
}
