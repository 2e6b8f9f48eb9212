//! User-mode bots as scenario members: `let robot = bot("robot",
//! "scripts/bot.rhai");` starts a second host, in this process and in user
//! mode (`service_mode: false`), signed in as the sandbox user `robot` and
//! joined to the test's channel. The bot is a member like any other
//! (`robot.sees()`, `robot.say(...)`), whose own handlers react to what it
//! receives.
//!
//! Settling covers bots too: the sandbox counts the frames it queued to each
//! user's connections, and a bot has settled when its host handled that many
//! and the sandbox acknowledged every frame the bot sent.

use super::ScenarioError;
use crate::config::Config;
use crate::host::{Host, HostOptions, HostProgress, ProgressCounters, RunningHost, ServicePaths};
use crate::sandbox::{Sandbox, SandboxControl};
use crate::timeouts::SCENARIO_SETTLE;
use std::path::Path;

/// The bot host's own events at start: `before_channel_init`, `on_start`.
const OWN_EVENTS: u64 = 2;

pub struct Bot {
    user_id: String,
    progress: HostProgress,
    host: RunningHost,
}

impl Bot {
    /// Starts `script` (relative to `dir`) as the user `name` in `channel_id`.
    pub async fn start(
        sandbox: &Sandbox,
        channel_id: &str,
        name: &str,
        dir: &Path,
        script: &Path,
        data_dir: &Path,
    ) -> Result<Bot, ScenarioError> {
        let control = sandbox.control();
        let user = control.create_user(name);
        let mut config = Config::local(
            &sandbox.http_url(),
            &sandbox.ws_url(),
            vec![channel_id.to_string()],
            &user.email,
        );
        config.account.password = crate::config::Secret::new(user.password.clone());
        config.service.mode = crate::config::Mode::User;
        config.db_config.data_dir = data_dir.to_path_buf();
        let progress = HostProgress::new();
        let options = HostOptions {
            watch: false,
            progress: Some(progress.clone()),
            ..HostOptions::default()
        };
        let paths = ServicePaths {
            dir: dir.to_path_buf(),
            script: dir.join(script),
        };
        let mut host = Host::start(config, paths, options);
        match tokio::time::timeout(crate::timeouts::SCENARIO_START, host.started()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => return Err(ScenarioError::HostGone),
            Ok(Err(e)) => return Err(ScenarioError::Host(e)),
            Err(_) => return Err(ScenarioError::StartTimeout(crate::timeouts::SCENARIO_START)),
        }
        Ok(Bot {
            user_id: user.user_id,
            progress,
            host,
        })
    }

    /// Frames the sandbox queued to this bot so far.
    fn delivered(&self, control: &SandboxControl) -> u64 {
        let stats = control.stats();
        stats.user_frames.get(&self.user_id).copied().unwrap_or(0)
    }

    /// Waits until the bot handled what it was sent and its own frames were
    /// applied; the counters reached when it did not in time.
    pub async fn settle(&self, control: &SandboxControl) -> Result<(), ScenarioError> {
        let expected = self.delivered(control);
        let reached: ProgressCounters = self
            .progress
            .settle(expected, OWN_EVENTS, SCENARIO_SETTLE)
            .await;
        if reached.settled(expected, OWN_EVENTS) {
            return Ok(());
        }
        if self.host.is_finished() {
            return Err(ScenarioError::HostGone);
        }
        Err(ScenarioError::not_settled(expected, &reached))
    }

    pub async fn stop(self) {
        let _ = self.host.shutdown(crate::timeouts::HOST_STOP_GRACE).await;
    }
}
