//! Shared test harness: a real sandbox on 127.0.0.1:0 (in-process), service
//! directories in temp dirs, and the real `moobius-host` binary as a child
//! process. Tests wait on observable sandbox state with a deadline.

#![allow(dead_code)]

pub mod bundle;
mod deadline;
pub mod loopback;
pub mod process;
pub mod python;
mod skip;
pub use deadline::DEADLINE;
pub mod user;
pub use process::HostProcess;
pub use skip::skip;

use moobius_host::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub async fn start_sandbox() -> Sandbox {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Sandbox::start(SandboxOptions::default())
        .await
        .expect("sandbox starts")
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > DEADLINE {
            panic!("timed out after {DEADLINE:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A channel "lobby" that `members` (created as users) joined, in order.
pub async fn lobby(sandbox: &Sandbox, members: &[&str]) -> String {
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    for m in members {
        c.create_user(m);
        c.act(m, &ch, "join").await.unwrap();
    }
    ch
}

/// A lobby with `members` and a host started for it, from the service
/// directory `service` makes for the channel id: the channel, the directory
/// (it must outlive the host) and the host. Callers wait for whatever shows
/// the service is up.
pub async fn lobby_with_host(
    sandbox: &Sandbox,
    members: &[&str],
    service: impl FnOnce(&str) -> ServiceDir,
) -> (String, ServiceDir, HostProcess) {
    let ch = lobby(sandbox, members).await;
    let svc = service(&ch);
    let host = svc.run_host();
    (ch, svc, host)
}

/// How many agents services created (`POST /service/character/create`
/// calls), if any: a reload or bundle swap that kept `this` creates none.
pub fn agents_created(control: &SandboxControl) -> Option<u64> {
    control
        .stats()
        .requests
        .get("POST /service/character/create")
        .copied()
}

/// Refreshes as `user` until they see `expected` (the refresh is handled by
/// whatever version of the service runs by then).
pub async fn refresh_until(control: &SandboxControl, user: &str, ch: &str, expected: &[&str]) {
    wait_for(
        &format!("{user} sees {expected:?} after a refresh"),
        || async {
            control.act(user, ch, "refresh").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            (sees(control, user, ch) == expected).then_some(())
        },
    )
    .await;
}

/// The names of the channel's members (ground truth), in joining order.
pub fn member_names(control: &SandboxControl, channel_id: &str) -> Vec<String> {
    let members = control.members(channel_id).unwrap_or_default();
    members.into_iter().map(|m| m.name).collect()
}

/// The names in `user`'s character list.
pub fn sees(control: &SandboxControl, user: &str, channel_id: &str) -> Vec<String> {
    control
        .view(user, channel_id)
        .map(|v| v.characters.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

pub fn version(control: &SandboxControl, user: &str, channel_id: &str) -> u64 {
    control
        .view(user, channel_id)
        .map(|v| v.version)
        .unwrap_or(0)
}

/// Waits until `user` sees exactly `expected`.
pub async fn wait_sees(control: &SandboxControl, user: &str, channel_id: &str, expected: &[&str]) {
    let what = format!("{user} sees {expected:?}");
    wait_for(&what, || {
        let now = sees(control, user, channel_id);
        async move { (now == expected).then_some(()) }
    })
    .await
}

/// Refreshes as `user` and waits until the service answers (their view's
/// version moves on), whichever version of the service runs by then; true
/// when the refresh was delivered to a service.
pub async fn refresh_answered(
    control: &SandboxControl,
    user: &str,
    channel_id: &str,
    what: &str,
) -> bool {
    let before = version(control, user, channel_id);
    let delivered = control.act(user, channel_id, "refresh").await.unwrap();
    wait_for(what, || async {
        (version(control, user, channel_id) > before).then_some(())
    })
    .await;
    delivered
}

/// The ids of the buttons `user` sees, in order.
pub fn button_ids(control: &SandboxControl, user: &str, channel_id: &str) -> Vec<String> {
    control
        .view(user, channel_id)
        .map(|v| {
            v.buttons
                .iter()
                .filter_map(|b| b["button_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `user` sees exactly the buttons `expected` (by id, in order).
pub async fn wait_buttons(
    control: &SandboxControl,
    user: &str,
    channel_id: &str,
    expected: &[&str],
) {
    let what = format!("{user} sees the buttons {expected:?}");
    wait_for(&what, || {
        let ids = button_ids(control, user, channel_id);
        async move { (ids == expected).then_some(()) }
    })
    .await
}

/// Sends `request` and reads its JSON answer (whatever the HTTP status): a
/// transport or parse error fails the test.
pub async fn json_answer(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Waits until a service is connected and bound to `channel_id`: a refresh
/// by a non-member ("probe") is then delivered.
pub async fn wait_served(control: &SandboxControl, channel_id: &str) {
    control.create_user("probe");
    wait_for("a service serves the channel", || async {
        control
            .act("probe", channel_id, "refresh")
            .await
            .unwrap()
            .then_some(())
    })
    .await
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A service directory in a temp dir: the repo's example script and avatar,
/// and a config pointing at `sandbox`.
pub struct ServiceDir {
    pub dir: tempfile::TempDir,
}

impl ServiceDir {
    pub fn new(sandbox: &Sandbox, channels: &[&str]) -> Self {
        Self::with_script(
            sandbox,
            channels,
            &std::fs::read_to_string(repo_root().join("scripts/service.rhai")).unwrap(),
        )
    }

    pub fn with_script(sandbox: &Sandbox, channels: &[&str], script: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("scripts")).unwrap();
        std::fs::create_dir_all(p.join("resources")).unwrap();
        std::fs::create_dir_all(p.join("config")).unwrap();
        std::fs::write(p.join("scripts/service.rhai"), script).unwrap();
        std::fs::copy(
            repo_root().join("resources/avatar.png"),
            p.join("resources/avatar.png"),
        )
        .unwrap();
        let email = format!("svc-{}@test.local", uuid::Uuid::new_v4());
        write_json(
            &p.join("config/config.json"),
            &serde_json::json!({
                "account_config": "config/account.json",
                "service_config": "config/service.json",
                "log_config": {"terminal_log_level": "DEBUG"}
            }),
        );
        write_json(
            &p.join("config/account.json"),
            &serde_json::json!({"email": email, "password": "pw-for-tests"}),
        );
        // Credentials readable only by their owner, as a careful author keeps them.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                p.join("config/account.json"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
        write_json(
            &p.join("config/service.json"),
            &serde_json::json!({
                "http_server_uri": sandbox.http_url(),
                "ws_server_uri": sandbox.ws_url(),
                "service_id": "",
                "channels": channels,
                "others": "include"
            }),
        );
        ServiceDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn edit_json(&self, file: &str, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.path().join(file);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        write_json(&path, &v);
    }

    pub fn email(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.path().join("config/account.json")).unwrap(),
        )
        .unwrap();
        v["email"].as_str().unwrap().to_string()
    }

    /// Uses `email` (same password as every test service) instead of a fresh account.
    pub fn set_account(&self, email: &str) {
        self.edit_json("config/account.json", |v| v["email"] = email.into());
    }

    /// Sets a top-level key of `config/config.json` (a section such as `db_config`).
    pub fn set_config_key(&self, key: &str, value: serde_json::Value) {
        self.edit_json("config/config.json", |v| v[key] = value);
    }

    pub fn set_service_key(&self, key: &str, value: serde_json::Value) {
        self.edit_json("config/service.json", |v| v[key] = value);
    }

    pub fn service_id(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.path().join("config/service.json")).unwrap(),
        )
        .unwrap();
        v["service_id"].as_str().unwrap_or("").to_string()
    }

    /// Starts `moobius-host run --dir <this dir>`.
    pub fn run_host(&self) -> HostProcess {
        self.run_host_with_env(&[])
    }

    /// [`ServiceDir::run_host`] with extra environment variables.
    pub fn run_host_with_env(&self, env: &[(&str, &str)]) -> HostProcess {
        HostProcess::spawn_with_env(
            &["run", "--dir", &self.path().display().to_string()],
            self.path(),
            None,
            env,
        )
    }
}

/// `host:port` of an `http://host:port/...` URL, as `http_allow` lists it.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}

pub fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// The admin URL and token a host started with `--admin` wrote under
/// `dir`, once it did.
pub async fn admin_endpoint(dir: &Path) -> (String, String) {
    wait_for("the admin endpoint is up", || async {
        let url = std::fs::read_to_string(dir.join("data/admin.url")).ok()?;
        let token = std::fs::read_to_string(dir.join("data/admin.token")).ok()?;
        Some((url.trim().to_string(), token.trim().to_string()))
    })
    .await
}

/// The tutorial's service script, as shipped.
pub fn tutorial() -> String {
    std::fs::read_to_string(repo_root().join("scripts/service.rhai")).unwrap()
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_moobius-host")
}

/// The example script `scripts/examples/NAME.rhai`.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(
        repo_root()
            .join("scripts/examples")
            .join(format!("{name}.rhai")),
    )
    .unwrap()
}

/// `user` sends a text message to `recipients` (names), as their client would.
pub async fn say(
    control: &SandboxControl,
    user: &str,
    channel_id: &str,
    text: &str,
    recipients: &[&str],
) {
    let fields = serde_json::json!({"text": text, "recipients": recipients});
    let delivered = control
        .act_json(user, channel_id, "message", fields.as_object().unwrap())
        .await
        .unwrap();
    assert!(delivered, "{user}'s message reached no service");
}

/// `user` clicks a button, with dialog arguments and a bottom button.
pub async fn click(
    control: &SandboxControl,
    user: &str,
    channel_id: &str,
    fields: serde_json::Value,
) {
    let delivered = control
        .act_json(
            user,
            channel_id,
            "button_click",
            fields.as_object().unwrap(),
        )
        .await
        .unwrap();
    assert!(delivered, "{user}'s click reached no service");
}

/// `(sender name, text)` of every message `user` received, oldest first.
pub fn inbox(control: &SandboxControl, user: &str, channel_id: &str) -> Vec<(String, String)> {
    control
        .view(user, channel_id)
        .map(|v| {
            v.messages
                .into_iter()
                .map(|m| {
                    let text = m.content["text"].as_str().unwrap_or_default().to_string();
                    (m.sender_name, text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `user` has received `(from, text)`.
pub async fn wait_message(
    control: &SandboxControl,
    user: &str,
    channel_id: &str,
    from: &str,
    text: &str,
) {
    let what = format!("{user} receives {text:?} from {from}");
    wait_for(&what, || {
        let got = inbox(control, user, channel_id);
        async move {
            got.iter()
                .any(|(f, t)| f == from && t == text)
                .then_some(())
        }
    })
    .await
}
