//! The unmodified Python SDK (moobius 1.8.0) against the sandbox, over WSS
//! with the sandbox's CA appended to the venv's certifi bundle: a service,
//! and a user-mode client acting as a member.
//!
//! Opt-in: set `MOOBIUS_SDK_PYTHON` to a Python that has `moobius==1.8.0`
//! installed (its certifi bundle is modified during a test and restored).
//! Without it these tests return at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use moobius_host::sandbox::{Sandbox, SandboxControl, SandboxOptions, View};
use serde_json::{json, Value};

const SERVICE: &str = r#"
import asyncio
from moobius import Moobius

class Svc(Moobius):
    async def before_channel_init(self):
        self.agent = await self.create_agent("Meow", description="a cat")

    async def on_refresh(self, action):
        members = await self.fetch_member_ids(action.channel_id)
        await self.send_characters(characters=members + [self.agent.character_id],
                                   channel_id=action.channel_id, recipients=[action.sender])
        await self.send_message("welcome", channel_id=action.channel_id,
                                sender=self.agent.character_id, recipients=[action.sender])

    async def on_message_up(self, message):
        await self.send_message("echo: " + message.content.text, channel_id=message.channel_id,
                                sender=self.agent.character_id, recipients=[message.sender])

asyncio.run(Svc(config="config/config.json").start())
"#;

const USER: &str = r#"
import asyncio, json
from moobius import Moobius

CHANNEL = json.load(open("config/service.json"))["channels"][0]

class User(Moobius):
    async def on_start(self):
        await self.send_message("hello", channel_id=CHANNEL, recipients=[self.client_id])

asyncio.run(User(config="config/config.json").start())
"#;

/// Restores a file's content when dropped, whatever happens in the test.
struct RestoreFile(PathBuf, Vec<u8>);

impl Drop for RestoreFile {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, &self.1);
    }
}

/// Stops a Python process when the test ends, pass or fail.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Appends the sandbox's CA to the SDK's certifi bundle until dropped.
fn trust_ca(python: &str, ca_pem: &Path) -> RestoreFile {
    let out = Command::new(python)
        .args(["-c", "import certifi; print(certifi.where())"])
        .output()
        .expect("python runs");
    let bundle = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let original = std::fs::read(&bundle).expect("certifi bundle");
    let ca = std::fs::read(ca_pem).expect("CA");
    std::fs::write(&bundle, [original.clone(), b"\n".to_vec(), ca].concat())
        .expect("bundle written");
    RestoreFile(bundle, original)
}

/// Writes a quickstart-shaped config plus `script` into `dir` and runs it.
fn run_sdk(python: &str, dir: &Path, script: &str, account: Value, service: Value) -> KillOnDrop {
    let config = dir.join("config");
    std::fs::create_dir(&config).expect("config dir");
    let write = |name: &str, value: Value| {
        std::fs::write(config.join(name), value.to_string()).expect("config file");
    };
    write(
        "config.json",
        json!({"account_config": "config/account.json", "service_config": "config/service.json",
               "log_config": {"terminal_log_level": "WARNING", "log_level": "WARNING"}, "db_config": []}),
    );
    write("account.json", account);
    write("service.json", service);
    std::fs::write(dir.join("main.py"), script).expect("script");
    let child = Command::new(python)
        .arg("main.py")
        .current_dir(dir)
        .stdin(Stdio::null())
        .spawn()
        .expect("python starts");
    KillOnDrop(child)
}

struct Setup {
    python: String,
    sandbox: Sandbox,
    control: SandboxControl,
    channel: String,
    _trust: RestoreFile,
    dir: tempfile::TempDir,
    _service: KillOnDrop,
    /// Last, so it is released after everything else is cleaned up.
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

/// The tests share the venv's certifi bundle, so they run one at a time.
static SDK_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn setup() -> Option<Setup> {
    let Ok(python) = std::env::var("MOOBIUS_SDK_PYTHON") else {
        eprintln!("MOOBIUS_SDK_PYTHON not set; skipping the Python SDK test");
        return None;
    };
    let serial = SDK_LOCK.lock().await;
    let sandbox = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        tls: true,
    })
    .await
    .expect("sandbox starts");
    let ready = sandbox.ready_info();
    let control = sandbox.control();
    let channel = control.create_channel("lobby");
    let trust = trust_ca(&python, ready.ca_pem.as_deref().expect("CA path"));
    let dir = tempfile::tempdir().expect("temp dir");
    let service_dir = dir.path().join("service");
    std::fs::create_dir(&service_dir).expect("service dir");
    let service = run_sdk(
        &python,
        &service_dir,
        SERVICE,
        json!({"email": "svc@example.com", "password": "pw"}),
        json!({"http_server_uri": ready.http, "ws_server_uri": ready.wss, "service_id": "",
               "channels": [channel], "others": "include"}),
    );
    Some(Setup {
        python,
        sandbox,
        control,
        channel,
        _trust: trust,
        dir,
        _service: service,
        _serial: serial,
    })
}

/// Waits (with a deadline) until alice's view satisfies `done`.
async fn wait_for_view(s: &Setup, deadline: Instant, done: impl Fn(&View) -> bool) {
    let mut events = s.control.subscribe();
    loop {
        let view = s.control.view("alice", &s.channel).expect("view");
        if done(&view) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "view never got there: {view:?}");
        let _ = tokio::time::timeout(left, events.recv()).await;
    }
}

fn has_message(view: &View, text: &str) -> bool {
    view.messages.iter().any(|m| m.content["text"] == text)
}

#[tokio::test]
async fn python_sdk_service_serves_a_simulated_member() {
    let Some(s) = setup().await else { return };
    s.control.create_user("alice");
    let deadline = Instant::now() + Duration::from_secs(60);
    // A join made before the service is bound and connected is lost; retry.
    let mut events = s.control.subscribe();
    while !s
        .control
        .act("alice", &s.channel, "join")
        .await
        .expect("join")
    {
        assert!(
            Instant::now() < deadline,
            "the Python service never connected"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    }
    wait_for_view(&s, deadline, |v| {
        let names: Vec<&str> = v.characters.iter().map(|c| c.name.as_str()).collect();
        names == ["alice", "Meow"] && has_message(v, "welcome")
    })
    .await;
    s.sandbox.shutdown().await;
}

#[tokio::test]
async fn python_sdk_user_client_joins_and_talks_to_a_python_service() {
    let Some(s) = setup().await else { return };
    let alice = s.control.create_user("alice");
    let ready = s.sandbox.ready_info();
    let user_dir = s.dir.path().join("alice");
    std::fs::create_dir(&user_dir).expect("user dir");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Start the user only once the service is bound and connected, so its
    // join is not lost: an upward event is delivered only then. (The
    // service's own account "svc" exists once it has signed in.)
    let mut events = s.control.subscribe();
    while !s
        .control
        .act("svc", &s.channel, "refresh")
        .await
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < deadline,
            "the Python service never connected"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    }
    let _user = run_sdk(
        &s.python,
        &user_dir,
        USER,
        json!({"email": alice.email, "password": alice.password}),
        json!({"http_server_uri": ready.http, "ws_server_uri": ready.wss,
               "channels": [s.channel], "service_mode": false}),
    );
    wait_for_view(&s, deadline, |v| {
        has_message(v, "welcome") && has_message(v, "echo: hello")
    })
    .await;
    let members = s.control.members(&s.channel).expect("members");
    assert_eq!(
        members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
    s.sandbox.shutdown().await;
}
