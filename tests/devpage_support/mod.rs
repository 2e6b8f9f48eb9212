//! Harness for the dev page's browser test: the real `moobius-host dev`
//! binary, `chromedriver` and headless Chromium as child processes that are
//! killed when dropped, and a WebDriver client (fantoccini over plain HTTP to
//! the local chromedriver) with helpers that wait on DOM state with a
//! deadline instead of sleeping; and Chromium run once without WebDriver
//! (`--dump-dom`, `--screenshot`).

#![allow(dead_code)]

#[path = "../common/skip.rs"]
mod skip;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

#[path = "../common/deadline.rs"]
mod deadline;
pub use deadline::DEADLINE;

/// A child process killed (with its process group) when dropped.
pub struct Proc {
    child: Child,
    group: bool,
}

impl Proc {
    fn spawn(cmd: &mut Command, group: bool) -> std::io::Result<Proc> {
        #[cfg(unix)]
        if group {
            std::os::unix::process::CommandExt::process_group(cmd, 0);
        }
        Ok(Proc {
            child: cmd.spawn()?,
            group,
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.group {
            // chromedriver's browser children share its process group.
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` on `PATH`, if there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A free loopback port (there is a small race until the user binds it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// `moobius-host dev` running in `dir`, with its page URL.
pub struct Dev {
    pub url: String,
    pub lines: mpsc::Receiver<String>,
    _proc: Proc,
}

/// A service directory in `dir`: the repo's `script` as
/// `scripts/service.rhai`, and `resources/avatar.png`.
pub fn service_dir(dir: &Path, script: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let service = dir.join("service");
    std::fs::create_dir_all(service.join("scripts")).expect("mkdir");
    std::fs::create_dir_all(service.join("resources")).expect("mkdir");
    std::fs::copy(repo.join(script), service.join("scripts/service.rhai")).expect("copy");
    let avatar = "resources/avatar.png";
    std::fs::copy(repo.join(avatar), service.join(avatar)).expect("copy");
    service
}

/// Starts `moobius-host dev --members MEMBERS` on `dir` and waits for its
/// page URL.
pub fn start_dev(dir: &Path, members: &str) -> Dev {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moobius-host"));
    cmd.args([
        "dev",
        "--members",
        members,
        "--listen",
        "127.0.0.1:0",
        "--dir",
    ])
    .arg(dir)
    .env_remove("RUST_LOG")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut proc = Proc::spawn(&mut cmd, false).expect("moobius-host starts");
    let stdout = proc.child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("dev| {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    loop {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix("dev page: ") {
                    return Dev {
                        url: url.trim().to_string(),
                        lines,
                        _proc: proc,
                    };
                }
            }
            Err(e) => panic!("moobius-host dev printed no page URL: {e}"),
        }
    }
}

/// Headless Chromium's switches, under WebDriver and one-shot alike.
const HEADLESS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,900",
];

/// Runs `chromium --headless ARGS` once, without WebDriver (as a person
/// taking a screenshot would), with its profile in `profile`; returns what
/// it printed on stdout (the DOM for `--dump-dom`). Fails if it does not
/// finish within the deadline or fails.
pub fn chromium_once(chromium: &Path, profile: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(chromium);
    cmd.args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut proc = Proc::spawn(&mut cmd, true).expect("chromium starts");
    let mut stdout = proc.child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let read = std::io::Read::read_to_string(&mut stdout, &mut text);
        let _ = tx.send(read.map(|_| text));
    });
    // Its output ends when Chromium exits (a timeout kills it, on drop).
    let text = match rx.recv_timeout(DEADLINE) {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => panic!("reading chromium's output: {e}"),
        Err(e) => panic!("chromium --headless {args:?} did not finish: {e}"),
    };
    let status = proc.child.wait().expect("chromium's exit status");
    assert!(status.success(), "chromium --headless {args:?}: {status}");
    text
}

/// Chromium alone (for one-shot runs), or `None` after printing why the
/// test is skipped.
pub fn chromium_tool() -> Option<PathBuf> {
    let found = find_program("chromium");
    if found.is_none() {
        skip::skip("chromium not installed (apt-get install chromium)");
    }
    found
}

/// chromedriver plus a WebDriver session in headless Chromium.
pub struct Browser {
    pub client: Client,
    _driver: Proc,
}

/// Starts chromedriver on a free port and opens a headless Chromium session
/// with its profile in `profile`.
pub async fn start_browser(chromium: &Path, chromedriver: &Path, profile: &Path) -> Browser {
    let port = free_port();
    let mut cmd = Command::new(chromedriver);
    cmd.arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let driver = Proc::spawn(&mut cmd, true).expect("chromedriver starts");
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < DEADLINE, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let args = HEADLESS
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chromium, "args": args},
    });
    let caps = caps.as_object().cloned().unwrap_or_default();
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session in headless Chromium");
    Browser {
        client,
        _driver: driver,
    }
}

/// Runs `script` (with `args`) until it returns something that is neither
/// null nor false, polling every 10 ms; panics with `what` at the deadline.
pub async fn wait_js(client: &Client, what: &str, script: &str, args: Vec<Value>) -> Value {
    let start = Instant::now();
    let mut last = Value::Null;
    loop {
        match client.execute(script, args.clone()).await {
            Ok(Value::Null) | Ok(Value::Bool(false)) => {}
            Ok(v) => return v,
            Err(e) => last = json!(e.to_string()),
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for: {what} (last error: {last})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The character names in `member`'s column (null if there is no column).
const NAMES: &str = r#"
const col = document.querySelector(`section.member[data-name="${arguments[0]}"]`);
return col ? [...col.querySelectorAll(".characters .name")].map((n) => n.textContent) : null;"#;

/// Waits until `member`'s column lists exactly `expected`.
pub async fn wait_sees(client: &Client, member: &str, expected: &[&str]) {
    let script = format!(
        "const names = (() => {{ {NAMES} }})(); return JSON.stringify(names) === arguments[1];"
    );
    let want = serde_json::to_string(expected).unwrap_or_default();
    let what = format!("{member}'s column shows {expected:?}");
    wait_js(client, &what, &script, vec![json!(member), json!(want)]).await;
}

/// Clicks the element `css` once it is there; found again if the page
/// replaced it between finding and clicking (a view re-rendered).
pub async fn click_css(client: &Client, css: &str) {
    let start = Instant::now();
    loop {
        let clicked = match client.find(Locator::Css(css)).await {
            Ok(element) => element.click().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let Err(why) = clicked else {
            return;
        };
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} clicking {css}: {why}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Clicks the column button `action` (join, leave, refresh) of `member`.
pub async fn click_action(client: &Client, member: &str, action: &str) {
    let css = format!(r#"section.member[data-name="{member}"] button[data-action="{action}"]"#);
    wait_js(
        client,
        &format!("{member}'s {action} button is enabled"),
        "const b = document.querySelector(arguments[0]); return !!b && !b.disabled;",
        vec![json!(css)],
    )
    .await;
    click_css(client, &css).await;
}

/// The `data-version` of `member`'s column.
pub async fn column_version(client: &Client, member: &str) -> u64 {
    let script = r#"const c = document.querySelector(`section.member[data-name="${arguments[0]}"]`);
        return c ? Number(c.dataset.version || 0) : 0;"#;
    let value = client.execute(script, vec![json!(member)]).await;
    value.ok().and_then(|v| v.as_u64()).unwrap_or(0)
}

/// The browser tools, or `None` after printing why the test is skipped.
pub fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let found = (find_program("chromium"), find_program("chromedriver"));
    if let (Some(chromium), Some(driver)) = found {
        return Some((chromium, driver));
    }
    skip::skip("chromium/chromedriver not installed (apt-get install chromium chromium-driver)");
    None
}

/// The texts of the messages `member` received, as "sender: text".
pub const MESSAGES: &str = r#"
const col = document.querySelector(`section.member[data-name="${arguments[0]}"]`);
return col ? [...col.querySelectorAll(".messages li.received")].map((m) =>
  m.querySelector(".sender").textContent + ": " + m.querySelector(".body").textContent) : [];"#;

/// The messages `member` sent, as shown in their column: "you → bob: text".
pub const SENT: &str = r#"
const col = document.querySelector(`section.member[data-name="${arguments[0]}"]`);
return col ? [...col.querySelectorAll(".messages li.sent")].map((m) =>
  m.querySelector(".sender").textContent + ": " + m.querySelector(".body").textContent) : [];"#;

/// Waits until `member`'s column shows a sent message reading `expected`
/// ("you → bob: text").
pub async fn wait_sent(client: &Client, member: &str, expected: &str) {
    let script = format!("const all = (() => {{ {SENT} }})(); return all.includes(arguments[1]);");
    let what = format!("{member}'s column shows {expected:?} as sent");
    wait_js(client, &what, &script, vec![json!(member), json!(expected)]).await;
}

/// Waits until one of `member`'s messages reads `expected` ("sender: text").
pub async fn wait_message(client: &Client, member: &str, expected: &str) {
    let script =
        format!("const all = (() => {{ {MESSAGES} }})(); return all.includes(arguments[1]);");
    let what = format!("{member} received {expected:?}");
    wait_js(client, &what, &script, vec![json!(member), json!(expected)]).await;
}

/// Fails if the page shows an error toast.
pub async fn assert_no_error(client: &Client) {
    let script =
        "const t = document.getElementById('error'); return t.hidden ? '' : t.textContent;";
    let shown = client
        .execute(script, vec![])
        .await
        .expect("read the toast");
    assert_eq!(shown, json!(""), "the page showed an error");
}

/// Saves a PNG of the page as `path` and prints where it is.
pub async fn screenshot(client: &Client, path: &Path) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
}
