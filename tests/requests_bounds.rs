//! `request` and `download` through the real host and sandbox, as an
//! attacker would use them: a redirect from an allowed host to one not
//! listed, a download of a host not listed, a symlinked `downloads/`,
//! `HTTP://` in capitals, and two hundred endless bodies at once.

mod common;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{extract::State, routing::get, Router};
use common::process::status_kib;
use common::*;
use moobius_host::sandbox::Sandbox;
use serde_json::json;

/// A local API on 127.0.0.1:0: `/hello`, `/go` (a redirect to the URL it
/// was given) and `/endless` (a body that never ends); stopped when dropped.
struct Api {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn redirect(State(to): State<String>) -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, to)])
}

async fn endless() -> Body {
    static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
    let chunks =
        futures_util::stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from_static(&CHUNK)));
    Body::from_stream(chunks)
}

impl Api {
    async fn start(redirect_to: String) -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .route("/go", get(redirect))
            .route("/endless", get(endless))
            .with_state(redirect_to);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Api { port, task }
    }

    /// The host serving `script` to alice's channel, with this API (and
    /// only it) in `http_allow`, once it serves: the channel, the service
    /// directory and the host.
    async fn serve(&self, sandbox: &Sandbox, script: &str) -> (String, ServiceDir, HostProcess) {
        let served = lobby_with_host(sandbox, &["alice"], |ch| {
            let svc = ServiceDir::with_script(sandbox, &[ch], script);
            svc.set_service_key("http_allow", json!([format!("127.0.0.1:{}", self.port)]));
            svc
        })
        .await;
        wait_served(&sandbox.control(), &served.0).await;
        served
    }
}

const REQUESTS: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); }
fn on_message_up(m) {
    try {
        request(#{url: `API/${m.content.text}`}, "done", m);
    } catch (e) {
        send_message(`thrown ${e}`, m.channel_id, this.bot, m.sender);
    }
}
fn done(response, m) {
    send_message(`${response.status} ${response.error ?? "ok"} ${response.text}`, m.channel_id, this.bot, m.sender);
}
"#;

/// Case 5: an allowed host answering `302 Location:` the sandbox's own
/// `/sandbox/users` does not get the script that body. Case 14: `HTTP://`
/// is an http URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_checked_against_http_allow_and_the_scheme_is_case_blind() {
    let sandbox = start_sandbox().await;
    let target = format!("{}sandbox/users", sandbox.http_url());
    let api = Api::start(target.clone()).await;
    let script = REQUESTS.replace("API", &format!("HTTP://127.0.0.1:{}", api.port));
    let c = sandbox.control();
    let (ch, _svc, _host) = api.serve(&sandbox, &script).await;
    say(&c, "alice", &ch, "hello", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Bot", "200 ok hello").await;
    say(&c, "alice", &ch, "go", &["alice"]).await;
    let refused = format!(
        "0 request: redirect to {} is not in service_config.http_allow ",
        host_port(&target)
    );
    wait_message(&c, "alice", &ch, "Bot", &refused).await;
}

const DOWNLOADS: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); }
fn fetch(text) {
    let parts = text.split(" ");
    if parts.len() == 2 { download(parts[0], parts[1]) } else { download(parts[0]).len() }
}
fn on_message_up(m) {
    let said = "";
    try { said = `${fetch(m.content.text)}`; } catch (e) { said = `${e}`; }
    send_message(said, m.channel_id, this.bot, m.sender);
}
"#;

/// Case 6: `download` applies `http_allow` as `request` does. Case 14: a
/// `downloads/` that is a symlink out of the service directory is not
/// written through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_keeps_to_http_allow_and_to_the_service_directory() {
    let sandbox = start_sandbox().await;
    let api = Api::start(String::new()).await;
    let allowed = format!("http://127.0.0.1:{}/hello", api.port);
    let c = sandbox.control();
    let outside = tempfile::tempdir().unwrap();
    let (ch, svc, _host) = api.serve(&sandbox, DOWNLOADS).await;
    say(&c, "alice", &ch, &allowed, &["alice"]).await;
    wait_message(&c, "alice", &ch, "Bot", "5").await;

    let users = format!("{}sandbox/users", sandbox.http_url());
    say(&c, "alice", &ch, &users, &["alice"]).await;
    let refused = format!(
        "download: {} is not in service_config.http_allow",
        host_port(&users)
    );
    wait_message(&c, "alice", &ch, "Bot", &refused).await;

    std::os::unix::fs::symlink(outside.path(), svc.path().join("downloads")).unwrap();
    say(&c, "alice", &ch, &format!("{allowed} x.txt"), &["alice"]).await;
    let outside_refused = "download: downloads: resolves outside the service directory";
    wait_message(&c, "alice", &ch, "Bot", outside_refused).await;
    assert!(
        !outside.path().join("x.txt").exists(),
        "nothing written outside"
    );
}

/// How many endless bodies are asked for at once.
const ENDLESS: usize = 200;

const FLOOD: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot"); this.ended = 0; this.over = 0; }
fn on_message_up(m) {
    for i in 0..COUNT { request(#{url: "API/endless"}, "ended", m); }
}
fn ended(response, m) {
    this.ended += 1;
    let e = response.error;
    if e == "response body over 4194304 bytes (service_config.request_max_bytes)"
        || e == "response bodies in flight over 67108864 bytes (service_config.request_budget_bytes)" {
        this.over += 1;
    }
    if this.ended == COUNT {
        send_message(`ended ${this.ended}, over ${this.over}`, m.channel_id, this.bot, m.sender);
    }
}
"#;

/// Case 7: two hundred requests to a body that never ends, with the
/// default limits: each callback gets a "body over N bytes" error, and the
/// host's peak memory stays within the request budget (64 MiB) and a
/// margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_bodies_are_cut_within_the_request_budget() {
    let sandbox = start_sandbox().await;
    let api = Api::start(String::new()).await;
    let script = FLOOD
        .replace("API", &format!("http://127.0.0.1:{}", api.port))
        .replace("COUNT", &ENDLESS.to_string());
    let c = sandbox.control();
    let (ch, _svc, host) = api.serve(&sandbox, &script).await;
    let idle_kib = status_kib(host.child.id(), "VmHWM");
    say(&c, "alice", &ch, "flood", &["alice"]).await;
    let report = wait_for("every request called back", || {
        let got = inbox(&c, "alice", &ch);
        async move { got.into_iter().find(|(_, t)| t.starts_with("ended ")) }
    })
    .await;
    let peak_kib = status_kib(host.child.id(), "VmHWM");
    eprintln!(
        "{ENDLESS} endless bodies: {:?}; the host's peak RSS {} MiB ({} MiB before)",
        report.1,
        peak_kib / 1024,
        idle_kib / 1024
    );
    assert_eq!(report.1, format!("ended {ENDLESS}, over {ENDLESS}"));
    assert!(peak_kib > 0, "the host's memory can be read");
    assert!(peak_kib < 150 * 1024, "peak RSS {} MiB", peak_kib / 1024);
}

/// A name, not literally loopback, that resolves to loopback only, on this
/// machine without network: its host name (`vm` on the project's machines,
/// where /etc/hosts maps it to 127.0.0.1), or `localhost.`.
async fn loopback_alias() -> Option<String> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    for name in [hostname.trim(), "localhost."] {
        if name.is_empty() || name == "localhost" {
            continue;
        }
        let Ok(found) = tokio::net::lookup_host((name, 0)).await else {
            continue;
        };
        let found: Vec<_> = found.collect();
        if !found.is_empty() && found.iter().all(|a| a.ip().is_loopback()) {
            return Some(name.to_string());
        }
    }
    None
}

/// A script request to a name that resolves to loopback (the sandbox's
/// `/sandbox/users` here) is refused with no `http_allow`; an exact entry
/// for the name lets it through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_loopback_needs_an_exact_entry() {
    let Some(alias) = loopback_alias().await else {
        // A property of the machine, not a missing extra: no skip() panic.
        println!("skipped: no name here resolves to loopback only");
        return;
    };
    let sandbox = start_sandbox().await;
    let port = host_port(&sandbox.http_url());
    let port = port.rsplit_once(':').map(|(_, p)| p.to_string()).unwrap();
    let users = format!("http://{alias}:{port}/sandbox/users");
    let c = sandbox.control();
    let script = REQUESTS.replace("API/${m.content.text}", "${m.content.text}");
    let served = lobby_with_host(&sandbox, &["alice"], |ch| {
        ServiceDir::with_script(&sandbox, &[ch], &script)
    })
    .await;
    let ch = served.0.clone();
    wait_served(&c, &ch).await;
    let refused =
        format!("0 cannot connect: {alias} resolves to loopback, which service_config.http_allow does not name ");
    say(&c, "alice", &ch, &users, &["alice"]).await;
    wait_message(&c, "alice", &ch, "Bot", &refused).await;
    drop(served);

    // Listed exactly, the name is reached.
    let served = lobby_with_host(&sandbox, &["bob"], |ch| {
        let svc = ServiceDir::with_script(&sandbox, &[ch], &script);
        svc.set_service_key("http_allow", json!([format!("{alias}:{port}")]));
        svc
    })
    .await;
    let ch = served.0.clone();
    wait_served(&c, &ch).await;
    say(&c, "bob", &ch, &users, &["bob"]).await;
    wait_for("the listed name is reached", || {
        let got = inbox(&c, "bob", &ch);
        async move { got.iter().find(|(_, t)| t.starts_with("200 ok ")).cloned() }
    })
    .await;
}

/// With `--admin 127.0.0.1:0` and `http_allow: ["127.0.0.1"]`, a script
/// request to the admin endpoint (at the port the system picked) is
/// refused: the port checked is the bound one, not 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_on_port_0_needs_its_bound_host_and_port() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let script = REQUESTS.replace("API/${m.content.text}", "${m.content.text}");
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &script);
    svc.set_service_key("http_allow", json!(["127.0.0.1"]));
    let dir = svc.path().display().to_string();
    let _host = HostProcess::spawn(
        &["run", "--dir", &dir, "--admin", "127.0.0.1:0"],
        svc.path(),
    );
    let (url, _) = admin_endpoint(svc.path()).await;
    wait_served(&c, &ch).await;
    say(&c, "alice", &ch, &format!("{url}/healthz"), &["alice"]).await;
    let refused = format!(
        "request: {} is not in service_config.http_allow",
        host_port(&url)
    );
    let answer = wait_for("the script's request is answered", || {
        let got = inbox(&c, "alice", &ch);
        async move { got.into_iter().find(|(f, _)| f == "Bot") }
    })
    .await;
    assert!(answer.1.contains(&refused), "{answer:?}");
}
