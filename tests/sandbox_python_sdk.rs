//! The unmodified Python SDK (moobius 1.8.0) against the sandbox, over WSS:
//! a service (tests/python/echo_service.py), and a user-mode client
//! (tests/python/echo_user.py) acting as a member.
//!
//! Python, the skip rule, the sandbox CA in certifi's bundle (and the lock
//! that keeps these tests and tests/python_interop.rs off it at the same
//! time) are tests/common/python.rs, so these tests run wherever that one
//! does, CI included.

mod common;

use std::time::{Duration, Instant};

use common::python::{PyProcess, SdkSandbox};
use moobius_host::sandbox::{SandboxControl, View};
use serde_json::json;

const SERVICE_PY: &str = include_str!("python/echo_service.py");
const USER_PY: &str = include_str!("python/echo_user.py");

/// How long each test may take to reach its goal.
const PATIENCE: Duration = Duration::from_secs(60);

/// One test's sandbox and Python processes. Fields drop in order: the
/// processes (printing their output on failure), then the sandbox and the
/// certifi bundle's trust and lock.
struct Setup {
    user: Option<PyProcess>,
    service: PyProcess,
    control: SandboxControl,
    channel: String,
    sdk: SdkSandbox,
}

async fn setup() -> Option<Setup> {
    let sdk = SdkSandbox::start().await?;
    let control = sdk.sandbox.control();
    let channel = control.create_channel("lobby");
    let service = sdk.run(
        "echo_service.py",
        SERVICE_PY,
        json!({"email": "svc@example.com", "password": "pw"}),
        json!({"service_id": "", "channels": [channel], "others": "include"}),
    );
    Some(Setup {
        user: None,
        service,
        control,
        channel,
        sdk,
    })
}

impl Setup {
    /// Panics if a Python process has exited.
    fn check_alive(&mut self, what: &str) {
        let context = format!("while waiting for {what}");
        self.service.assert_running(&context);
        if let Some(user) = &mut self.user {
            user.assert_running(&context);
        }
    }

    /// Retries `action` by `user` until the service receives it: an upward
    /// event is delivered only once the service is bound and connected.
    async fn act_when_served(&mut self, user: &str, action: &str, deadline: Instant) {
        let mut events = self.control.subscribe();
        while !self
            .control
            .act(user, &self.channel, action)
            .await
            .unwrap_or(false)
        {
            self.check_alive("the Python service to connect");
            assert!(
                Instant::now() < deadline,
                "the Python service never connected"
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    }

    /// Waits (with a deadline) until alice's view satisfies `done`.
    async fn wait_for_view(&mut self, deadline: Instant, done: impl Fn(&View) -> bool) {
        let mut events = self.control.subscribe();
        loop {
            let view = self.control.view("alice", &self.channel).expect("view");
            if done(&view) {
                return;
            }
            self.check_alive("alice's view");
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "view never got there: {view:?}");
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), events.recv()).await;
        }
    }

    /// Kills the Python processes, then stops the sandbox and restores the
    /// bundle.
    async fn finish(mut self) {
        if let Some(user) = &mut self.user {
            user.kill();
        }
        self.service.kill();
        let Setup { sdk, .. } = self;
        sdk.shutdown().await;
    }
}

fn has_message(view: &View, text: &str) -> bool {
    view.messages.iter().any(|m| m.content["text"] == text)
}

#[tokio::test]
async fn python_sdk_service_serves_a_simulated_member() {
    let Some(mut s) = setup().await else { return };
    s.control.create_user("alice");
    let deadline = Instant::now() + PATIENCE;
    // A join made before the service is bound and connected is lost; retry.
    s.act_when_served("alice", "join", deadline).await;
    s.wait_for_view(deadline, |v| {
        let names: Vec<&str> = v.characters.iter().map(|c| c.name.as_str()).collect();
        names == ["alice", "Meow"] && has_message(v, "welcome")
    })
    .await;
    s.finish().await;
}

#[tokio::test]
async fn python_sdk_user_client_joins_and_talks_to_a_python_service() {
    let Some(mut s) = setup().await else { return };
    let alice = s.control.create_user("alice");
    let deadline = Instant::now() + PATIENCE;
    // Start the user only once the service is bound and connected, so its
    // join is not lost: an upward event is delivered only then. (The
    // service's own account "svc" exists once it has signed in.)
    s.act_when_served("svc", "refresh", deadline).await;
    s.user = Some(s.sdk.run(
        "echo_user.py",
        USER_PY,
        json!({"email": alice.email, "password": alice.password}),
        json!({"channels": [s.channel], "service_mode": false}),
    ));
    s.wait_for_view(deadline, |v| {
        has_message(v, "welcome") && has_message(v, "echo: hello")
    })
    .await;
    let members = s.control.members(&s.channel).expect("members");
    assert_eq!(
        members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
    s.finish().await;
}
