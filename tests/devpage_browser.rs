//! The dev page in a real browser: `moobius-host dev` with no members, driven
//! through headless Chromium over WebDriver through the tutorial's story (add
//! alice, bob and carol, join them, check every column, refresh, leave one),
//! then a broken save whose `path:line:col` must show in the banner.
//! Screenshots go to the test's temp dir, which is kept (without the browser
//! profile) so a person can look at them. Skipped, with a printed reason,
//! where Chromium or chromedriver is not installed.

mod devpage_support;

use std::time::Instant;

use devpage_support::*;
use fantoccini::Locator;
use serde_json::json;

const SCRIPT: &str = "scripts/service.rhai";
/// The script status banner's text, as a JS expression.
const BANNER: &str = "document.getElementById('banner').textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_page_shows_every_member_live_and_the_reload_error() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::Builder::new()
        .prefix("moobius-devpage-")
        .tempdir()
        .expect("temp dir");
    let service = service_dir(tmp.path(), SCRIPT);
    let started = Instant::now();
    let dev = start_dev(&service, "");
    let browser = start_browser(&chromium, &chromedriver, &tmp.path().join("profile")).await;
    let client = &browser.client;
    client.goto(&dev.url).await.expect("open the dev page");

    wait_js(
        client,
        "the banner shows version 1",
        &format!("return {BANNER}.includes('Script version 1');"),
        vec![],
    )
    .await;

    // Add three members through the form; each gets a column, not yet joined.
    for name in ["alice", "bob", "carol"] {
        let input = client.find(Locator::Id("new-member")).await.expect("input");
        input.send_keys(name).await.expect("type a name");
        let add = client.find(Locator::Css("#add-member button")).await;
        add.expect("add button").click().await.expect("click add");
        wait_js(
            client,
            &format!("a column for {name}"),
            "return !!document.querySelector(`section.member[data-name=\"${arguments[0]}\"]`);",
            vec![json!(name)],
        )
        .await;
    }

    // Join one after the other, so the member order is alice, bob, carol.
    click_action(client, "alice", "join").await;
    wait_sees(client, "alice", &["alice", "Meow"]).await;
    click_action(client, "bob", "join").await;
    wait_sees(client, "bob", &["bob", "Meow", "alice"]).await;
    click_action(client, "carol", "join").await;
    wait_sees(client, "alice", &["alice", "Meow", "bob", "carol"]).await;
    wait_sees(client, "bob", &["bob", "Meow", "alice", "carol"]).await;
    wait_sees(client, "carol", &["carol", "Meow", "alice", "bob"]).await;

    // Refresh: the service answers with alice's view again (a new version).
    let before = column_version(client, "alice").await;
    click_action(client, "alice", "refresh").await;
    wait_js(
        client,
        "alice's column shows a newer view after refresh",
        "const c = document.querySelector('section.member[data-name=\"alice\"]');\
         return Number(c.dataset.version) > arguments[0];",
        vec![json!(before)],
    )
    .await;

    // A downward event caused outside the page reaches it live.
    let before = column_version(client, "bob").await;
    let channel = client
        .execute("return document.getElementById('channel').value;", vec![])
        .await
        .expect("channel id");
    let sent = Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("{}sandbox/act", dev.url))
        .json(&json!({"user": "bob", "channel_id": channel, "action": "refresh"}))
        .send()
        .await
        .expect("control API");
    assert!(answer.status().is_success());
    wait_js(
        client,
        "bob's column updates after a refresh sent by curl",
        "return Number(document.querySelector('section.member[data-name=\"bob\"]')\
         .dataset.version) > arguments[0];",
        vec![json!(before)],
    )
    .await;
    println!(
        "control API refresh -> page updated in {:?}",
        sent.elapsed()
    );

    // carol leaves: the others' lists update, her column stays, marked.
    click_action(client, "carol", "leave").await;
    wait_sees(client, "alice", &["alice", "Meow", "bob"]).await;
    wait_sees(client, "bob", &["bob", "Meow", "alice"]).await;
    wait_js(
        client,
        "carol's column says she left",
        "return document.querySelector('section.member[data-name=\"carol\"] .badge')\
         .textContent === 'not in channel';",
        vec![],
    )
    .await;
    assert_no_error(client).await;
    screenshot(client, &tmp.path().join("devpage-story.png")).await;

    // A save that arms timers: the banner lists them.
    let tutorial = std::fs::read_to_string(service.join(SCRIPT)).expect("read");
    let with_timers = format!(
        "{tutorial}\nfn on_reload() {{ after(600000, \"later\"); every(60000, \"tick\"); }}\n\
         fn later() {{}}\nfn tick() {{}}\nfn on_spell(v) {{ #{{echo: v}} }}\n"
    );
    std::fs::write(service.join(SCRIPT).with_extension("tmp"), with_timers).expect("write");
    std::fs::rename(
        service.join(SCRIPT).with_extension("tmp"),
        service.join(SCRIPT),
    )
    .expect("save");
    wait_js(
        client,
        "the banner lists the pending timers",
        &format!(
            "const t = {BANNER}; return t.includes('2 timers pending: later at ') \
             && t.includes('tick every 60000 ms');"
        ),
        vec![],
    )
    .await;

    // The spell box: a value to on_spell, and what it returned.
    let input = client
        .find(Locator::Id("spell-value"))
        .await
        .expect("spell box");
    input
        .send_keys(r#"{"kick": "bob"}"#)
        .await
        .expect("type a spell");
    let cast = client
        .find(Locator::Css("#spell button"))
        .await
        .expect("cast button");
    cast.click().await.expect("cast");
    wait_js(
        client,
        "the spell's answer is shown",
        r#"return document.getElementById('spell-result').textContent === '→ {"echo":{"kick":"bob"}}';"#,
        vec![],
    )
    .await;

    // A save that does not compile: the banner shows path:line:col.
    let broken = "fn on_join(action) {\n    let x = ;\n}\n";
    let path = service.join(SCRIPT);
    std::fs::write(path.with_extension("tmp"), broken).expect("write");
    std::fs::rename(path.with_extension("tmp"), &path).expect("save");
    let shown = wait_js(
        client,
        "the banner shows the compile error",
        &format!("const t = {BANNER}; return t.includes('Reload failed') ? t : null;"),
        vec![],
    )
    .await;
    let shown = shown.as_str().unwrap_or_default().to_string();
    assert!(
        shown.contains("scripts/service.rhai:2:"),
        "banner without path:line:col: {shown}"
    );
    assert!(
        shown.contains("2 |     let x = ;") && shown.contains('^'),
        "banner without the code frame: {shown}"
    );
    screenshot(client, &tmp.path().join("devpage-error.png")).await;
    println!("dev page story passed in {:?}", started.elapsed());

    let _ = browser.client.clone().close().await;
    drop(browser);
    drop(dev);
    let _ = std::fs::remove_dir_all(tmp.path().join("profile"));
    let _ = std::fs::remove_dir_all(&service);
    let kept = tmp.keep();
    println!("screenshots kept in {}", kept.display());
}
