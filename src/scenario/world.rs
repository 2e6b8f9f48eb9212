//! One scenario test's world: a fresh sandbox with a channel `lobby`, and a
//! fresh host serving the service's scripts on it, in this process.
//!
//! Settling is counting, not waiting: the sandbox counts the member actions
//! it handed to the service, the host counts the events it finished and the
//! frames the sandbox acknowledged (`HostProgress`), and a step is over when
//! the two agree.

use super::bots::Bot;
use super::expect::HandlerErrors;
use super::responder::ScenarioResponder;
use super::ScenarioError;
use crate::config::{Config, ServiceSettings};
use crate::host::{
    Host, HostOptions, HostProgress, ReloadResult, RunningHost, ScriptStatus, ServicePaths,
    VirtualClock,
};
use crate::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use crate::timeouts::{
    SCENARIO_RESTART_GRACE, SCENARIO_SETTLE, SCENARIO_START, SCENARIO_STOP_GRACE,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
    /// What the host is started with (again by `restart`).
    config: Config,
    paths: ServicePaths,
    /// The host's own events handled so far (init, start, reloads).
    own_events: u64,
    /// User-mode members (`bot(name, script)`).
    bots: Vec<Bot>,
    /// This test's handler errors and the ones it expects.
    handler_errors: HandlerErrors,
    /// When the test's time (`script_limits.test_timeout_ms`) is up. The test
    /// engine checks it between Rhai operations, but `advance` and `settle`
    /// loop here, in Rust, for as long as the service keeps them busy (an
    /// `every` timer and a far `advance`), so they check it too.
    test_deadline: Option<tokio::time::Instant>,
    /// The test's stores and agent records: in a directory of its own (never
    /// the service directory), so that they outlive a `restart` as they
    /// outlive a restart under `run`.
    data: tempfile::TempDir,
}

/// A host started and serving.
struct Launched {
    host: RunningHost,
    status: watch::Receiver<ScriptStatus>,
    /// Its start-up events (`before_channel_init`, one per channel, `on_start`).
    start_events: u64,
    service_id: String,
}

impl World {
    /// Starts the sandbox and the host, and waits until the host started and
    /// its start-up events (`before_channel_init`, channel init, `on_start`)
    /// settled.
    /// The host runs under the service's config as `run` applies it
    /// (`settings`), its stores in a directory of the test's own.
    pub async fn start(
        paths: ServicePaths,
        settings: &ServiceSettings,
    ) -> Result<World, ScenarioError> {
        let sandbox = Sandbox::start(SandboxOptions::default()).await?;
        let control = sandbox.control();
        let channel_id = control.create_channel("lobby");
        let mut config = Config::local(
            &sandbox.http_url(),
            &sandbox.ws_url(),
            vec![channel_id.clone()],
            "scenario@sandbox.local",
        );
        let data = tempfile::tempdir().map_err(ScenarioError::DataDir)?;
        settings.apply(&mut config, Some(data.path()));
        let progress = HostProgress::new();
        let clock = VirtualClock::new();
        let responder = Arc::new(ScenarioResponder::default());
        let launched = launch(&config, &paths, &progress, &clock, &responder).await?;
        // Restarts serve the same service (a channel is bound to one).
        config.service.service_id = Some(launched.service_id);
        let mut world = World {
            sandbox: Some(sandbox),
            control,
            channel_id,
            progress,
            status: launched.status,
            clock,
            responder,
            host: Some(launched.host),
            config,
            paths,
            own_events: launched.start_events,
            bots: Vec::new(),
            handler_errors: HandlerErrors::default(),
            test_deadline: None,
            data,
        };
        world.wait_connected(true).await?;
        world.settle().await?;
        Ok(world)
    }

    /// Waits until the sandbox sees the service connected to the channel
    /// (`true`) or not (`false`): a host reports it started once its login
    /// is written, and the sandbox registers it a moment later.
    async fn wait_connected(&self, connected: bool) -> Result<(), ScenarioError> {
        if self
            .control
            .wait_service_connected(&self.channel_id, connected, SCENARIO_SETTLE)
            .await
        {
            return Ok(());
        }
        let what = if connected { "connect" } else { "disconnect" };
        Err(ScenarioError::Usage(format!(
            "the service did not {what} within {SCENARIO_SETTLE:?}"
        )))
    }

    /// Stops the host as SIGTERM would and starts a new one on the same
    /// sandbox, stores and agent records, then settles: what a service keeps
    /// across a restart (stores) survives, what it does not (`this`) starts
    /// afresh.
    pub async fn restart(&mut self) -> Result<(), ScenarioError> {
        self.settle().await?;
        if let Some(host) = self.host.take() {
            host.shutdown(SCENARIO_RESTART_GRACE).await?;
        }
        self.wait_connected(false).await?;
        let launched = launch(
            &self.config,
            &self.paths,
            &self.progress,
            &self.clock,
            &self.responder,
        )
        .await?;
        self.host = Some(launched.host);
        self.status = launched.status;
        self.handler_errors.host_restarted();
        self.own_events += launched.start_events;
        self.wait_connected(true).await?;
        self.settle().await
    }

    /// Fails the test at its end unless a handler error containing `part`
    /// happened; such errors do not fail it.
    pub fn expect_error(&mut self, part: &str) {
        self.handler_errors.expect(part);
    }

    /// This test's handler errors so far, and the ones it expects.
    pub fn handler_errors(&mut self) -> &HandlerErrors {
        self.handler_errors.absorb(&self.status.borrow());
        &self.handler_errors
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
        // A bot's script is the service's own: it may not leave its directory.
        let script = crate::platform::upload::resolve_inside(&self.paths.dir, script)
            .map_err(|e| ScenarioError::Usage(format!("bot {name:?}: {e}")))?;
        let data = self.data.path().join("bots").join(name);
        let bot = Bot::start(
            sandbox,
            &self.channel_id,
            name,
            &self.paths.dir,
            &script,
            &data,
        )
        .await?;
        self.bots.push(bot);
        self.settle().await
    }

    /// Waits until the service and every bot settled at once: a bot's answer
    /// is a new upward frame for the service, whose answer may be news for
    /// a bot, so this goes round until a round changes nothing.
    /// The test starts: its time runs from now.
    pub fn begin_test(&mut self) {
        let budget = self.config.script_limits.test_timeout;
        self.test_deadline = Some(tokio::time::Instant::now() + budget);
    }

    /// Fails once the test's time is up.
    fn in_time(&self) -> Result<(), ScenarioError> {
        match self.test_deadline {
            Some(at) if tokio::time::Instant::now() >= at => Err(ScenarioError::TestTimeout(
                self.config.script_limits.test_timeout,
            )),
            _ => Ok(()),
        }
    }

    /// How long one wait for the service may take: [`SCENARIO_SETTLE`], or
    /// what is left of the test's time when that is less.
    fn wait_bound(&self) -> Duration {
        self.test_deadline.map_or(SCENARIO_SETTLE, |at| {
            at.saturating_duration_since(tokio::time::Instant::now())
                .min(SCENARIO_SETTLE)
        })
    }

    pub async fn settle(&mut self) -> Result<(), ScenarioError> {
        let traffic = |c: &SandboxControl| {
            let s = c.stats();
            (s.upward_frames, s.user_frames.values().sum::<u64>())
        };
        let deadline = tokio::time::Instant::now() + SCENARIO_SETTLE;
        loop {
            self.in_time()?;
            let before = traffic(&self.control);
            let service = self.settle_service().await;
            self.handler_errors.absorb(&self.status.borrow());
            service?;
            for bot in &self.bots {
                bot.settle(&self.control).await?;
            }
            if traffic(&self.control) == before {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ScenarioError::Usage(format!(
                    "the service and the bots kept talking for {SCENARIO_SETTLE:?} without settling"
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
            .settle(expected, self.own_events, self.wait_bound())
            .await;
        if reached.settled(expected, self.own_events) {
            return Ok(());
        }
        self.in_time()?;
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
        loop {
            self.in_time()?;
            if !self.clock.fire_next(until) {
                return Ok(());
            }
            self.own_events += 1;
            self.settle().await?;
        }
    }

    /// Answers the service's requests to `pattern` with `answer`.
    pub fn respond(&self, pattern: &str, answer: &serde_json::Value) -> Result<(), crate::Reason> {
        self.responder.add(pattern, answer)
    }

    /// Hands `value` to `on_spell` as `run`'s admin endpoint does (routed
    /// by its `channel_id`, see `host::shards`), settles, and returns the
    /// answer; `None` when `on_spell` failed as the test expected.
    pub async fn spell(
        &mut self,
        value: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, ScenarioError> {
        use crate::host::SpellError;
        let Some(host) = self.host.as_ref() else {
            return Err(ScenarioError::HostGone);
        };
        let answer = host.probe().spell(value, self.wait_bound()).await;
        if matches!(answer, Ok(_) | Err(SpellError::Script(_))) {
            // Handled: counted once, however many threads ran it.
            self.own_events += 1;
            self.settle().await?;
        }
        match answer {
            Ok(v) => Ok(Some(v)),
            Err(SpellError::Script(e)) if self.handler_errors.expects(&e) => Ok(None),
            Err(SpellError::Script(e)) => Err(ScenarioError::Usage(format!("spell: {e}"))),
            Err(SpellError::Gone) => Err(self.host_ended().await),
            Err(other) => {
                self.in_time()?;
                Err(ScenarioError::Usage(format!("spell: {other}")))
            }
        }
    }

    /// The requests the service made in this test, oldest first.
    pub fn requests(&self) -> Vec<crate::script::HttpRequest> {
        self.responder.requests()
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
            let _ = host.shutdown(SCENARIO_STOP_GRACE).await;
        }
        if let Some(sandbox) = self.sandbox.take() {
            let _ = tokio::time::timeout(SCENARIO_STOP_GRACE, sandbox.shutdown()).await;
        }
    }
}

/// Starts a host on the world's sandbox and waits until it serves.
async fn launch(
    config: &Config,
    paths: &ServicePaths,
    progress: &HostProgress,
    clock: &VirtualClock,
    responder: &Arc<ScenarioResponder>,
) -> Result<Launched, ScenarioError> {
    let (status_tx, status) = watch::channel(ScriptStatus::default());
    let options = HostOptions {
        watch: false,
        reload_on_sighup: false,
        status: Some(status_tx),
        bundle: None,
        progress: Some(progress.clone()),
        virtual_clock: Some(clock.clone()),
        responder: Some(responder.clone()),
        version: None,
        bundle_limits: crate::bundle::BundleLimits::default(),
    };
    let mut host = Host::start(config.clone(), paths.clone(), options);
    let started = match tokio::time::timeout(SCENARIO_START, host.started()).await {
        Ok(Ok(Some(started))) => started,
        Ok(Ok(None)) => return Err(ScenarioError::HostGone),
        Ok(Err(e)) => return Err(ScenarioError::Host(e)),
        Err(_) => {
            let _ = host.shutdown(SCENARIO_STOP_GRACE).await;
            return Err(ScenarioError::StartTimeout(SCENARIO_START));
        }
    };
    Ok(Launched {
        host,
        status,
        start_events: 2 + started.channels.len() as u64,
        service_id: started.service_id,
    })
}
