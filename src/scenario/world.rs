//! One scenario test's world: a fresh sandbox with a channel `lobby`, and a
//! fresh host serving the service's scripts on it, in this process.
//!
//! Settling is counting, not waiting: the sandbox counts the member actions
//! it handed to the service, the host counts the events it finished and the
//! frames the sandbox acknowledged (`HostProgress`), and a step is over when
//! the two agree.

use super::bots::Bot;
use super::responder::ScenarioResponder;
use super::{ScenarioError, SETTLE_TIMEOUT};
use crate::config::Config;
use crate::host::ServicePaths;
use crate::host::{
    Host, HostOptions, HostProgress, ReloadResult, RunningHost, ScriptStatus, VirtualClock,
};
use crate::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_GRACE: Duration = Duration::from_secs(1);

pub struct World {
    sandbox: Option<Sandbox>,
    control: SandboxControl,
    channel_id: String,
    progress: HostProgress,
    status: watch::Receiver<ScriptStatus>,
    /// Timers' clock: moves only through `advance`.
    clock: VirtualClock,
    /// Answers the service's requests (`respond`).
    responder: Arc<ScenarioResponder>,
    host: Option<RunningHost>,
    /// The host's own events handled so far (init, start, reloads).
    own_events: u64,
    /// The service directory (bots' scripts are relative to it).
    dir: std::path::PathBuf,
    /// User-mode members (`bot(name, script)`).
    bots: Vec<Bot>,
}

impl World {
    /// Starts the sandbox and the host, and waits until the host started and
    /// its start-up events (`before_channel_init`, channel init, `on_start`)
    /// settled.
    pub async fn start(paths: ServicePaths) -> Result<World, ScenarioError> {
        let sandbox = Sandbox::start(SandboxOptions::default()).await?;
        let control = sandbox.control();
        let channel_id = control.create_channel("lobby");
        let config = Config::local(
            &sandbox.http_url(),
            &sandbox.ws_url(),
            vec![channel_id.clone()],
            "scenario@sandbox.local",
        );
        let progress = HostProgress::new();
        let clock = VirtualClock::new();
        let responder = Arc::new(ScenarioResponder::default());
        let (status_tx, status) = watch::channel(ScriptStatus::default());
        let options = HostOptions {
            watch: false,
            reload_on_sighup: false,
            status: Some(status_tx),
            bundle: None,
            progress: Some(progress.clone()),
            virtual_clock: Some(clock.clone()),
            responder: Some(responder.clone()),
        };
        let dir = paths.dir.clone();
        let mut host = Host::start(config, paths, options);
        let started = match tokio::time::timeout(START_TIMEOUT, host.started()).await {
            Ok(Ok(Some(started))) => started,
            Ok(Ok(None)) => return Err(ScenarioError::HostGone),
            Ok(Err(e)) => return Err(ScenarioError::Host(e)),
            Err(_) => {
                let _ = host.shutdown(STOP_GRACE).await;
                return Err(ScenarioError::StartTimeout(START_TIMEOUT));
            }
        };
        let mut world = World {
            sandbox: Some(sandbox),
            control,
            channel_id,
            progress,
            status,
            clock,
            responder,
            host: Some(host),
            own_events: 2 + started.channels.len() as u64,
            dir,
            bots: Vec::new(),
        };
        world.settle().await?;
        Ok(world)
    }

    pub fn control(&self) -> &SandboxControl {
        &self.control
    }

    pub fn channel_id(&self) -> &str {
        &self.channel_id
    }

    /// Starts a user-mode bot `name` running `script` (relative to the
    /// service directory) in the channel, and settles.
    pub async fn add_bot(&mut self, name: &str, script: &str) -> Result<(), ScenarioError> {
        let sandbox = self.sandbox.as_ref().ok_or(ScenarioError::HostGone)?;
        let bot = Bot::start(
            sandbox,
            &self.channel_id,
            name,
            &self.dir,
            Path::new(script),
        )
        .await?;
        self.bots.push(bot);
        self.settle().await
    }

    /// Waits until the service and every bot settled at once: a bot's answer
    /// is a new upward frame for the service, whose answer may be news for
    /// a bot, so this goes round until a round changes nothing.
    pub async fn settle(&mut self) -> Result<(), ScenarioError> {
        let traffic = |c: &SandboxControl| {
            let s = c.stats();
            (s.upward_frames, s.user_frames.values().sum::<u64>())
        };
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            let before = traffic(&self.control);
            self.settle_service().await?;
            for bot in &self.bots {
                bot.settle(&self.control).await?;
            }
            if traffic(&self.control) == before {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ScenarioError::Usage(format!(
                    "the service and the bots kept talking for {SETTLE_TIMEOUT:?} without settling"
                )));
            }
        }
    }

    /// Waits until the host handled every member action the sandbox handed
    /// to it and the sandbox applied every frame the host sent.
    async fn settle_service(&mut self) -> Result<(), ScenarioError> {
        let expected = self.control.stats().upward_frames;
        let reached = self
            .progress
            .settle(expected, self.own_events, SETTLE_TIMEOUT)
            .await;
        if reached.settled(expected, self.own_events) {
            return Ok(());
        }
        if self.host.as_ref().is_some_and(RunningHost::is_finished) {
            return Err(self.host_ended().await);
        }
        Err(ScenarioError::not_settled(expected, &reached))
    }

    /// Performs `action` (with `fields`) as `who`, then settles.
    pub async fn act(
        &mut self,
        who: &str,
        action: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ScenarioError> {
        let delivered = self
            .control
            .act_json(who, &self.channel_id, action, fields)
            .await?;
        if !delivered {
            return Err(ScenarioError::NotDelivered {
                who: who.to_string(),
                action: action.to_string(),
            });
        }
        self.settle().await
    }

    /// Moves the timers' clock `ms` forward, firing every timer due on the
    /// way one at a time, in due order, settling after each (so timers a
    /// handler arms take part).
    pub async fn advance(&mut self, ms: u64) -> Result<(), ScenarioError> {
        let until = self.clock.now_ms().saturating_add(ms);
        while self.clock.fire_next(until) {
            self.own_events += 1;
            self.settle().await?;
        }
        Ok(())
    }

    /// Answers the service's requests to `pattern` with `answer`.
    pub fn respond(&self, pattern: &str, answer: &serde_json::Value) -> Result<(), String> {
        self.responder.add(pattern, answer)
    }

    /// Re-reads the scripts through the host's reload path, then settles.
    pub async fn reload(&mut self) -> Result<(), ScenarioError> {
        let Some(host) = self.host.as_ref() else {
            return Err(ScenarioError::HostGone);
        };
        match host.reload().await {
            ReloadResult::Reloaded | ReloadResult::Unchanged => {
                self.own_events += 1;
                self.settle().await
            }
            ReloadResult::Failed => {
                let error = self.status.borrow().error.clone();
                Err(ScenarioError::ReloadFailed(
                    error.unwrap_or_else(|| "the scripts do not compile".into()),
                ))
            }
            ReloadResult::Gone => Err(self.host_ended().await),
        }
    }

    async fn host_ended(&mut self) -> ScenarioError {
        match self.host.take() {
            Some(mut host) => match host.finished().await {
                Err(e) => ScenarioError::Host(e),
                Ok(()) => ScenarioError::HostGone,
            },
            None => ScenarioError::HostGone,
        }
    }

    /// Stops the bots and the host, then the sandbox.
    pub async fn stop(mut self) {
        for bot in self.bots.drain(..) {
            bot.stop().await;
        }
        if let Some(host) = self.host.take() {
            let _ = host.shutdown(STOP_GRACE).await;
        }
        if let Some(sandbox) = self.sandbox.take() {
            let _ = tokio::time::timeout(STOP_GRACE, sandbox.shutdown()).await;
        }
    }
}
