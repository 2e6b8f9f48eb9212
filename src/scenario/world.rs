//! One scenario test's world: a fresh sandbox with a channel `lobby`, and a
//! fresh host serving the service's scripts on it, in this process.
//!
//! Settling is counting, not waiting: the sandbox counts the member actions
//! it handed to the service, the host counts the events it finished and the
//! frames the sandbox acknowledged (`HostProgress`), and a step is over when
//! the two agree.

use super::{ScenarioError, SETTLE_TIMEOUT};
use crate::config::Config;
use crate::host::ServicePaths;
use crate::host::{self, HostError, HostOptions, HostProgress, ReloadResult, ScriptStatus};
use crate::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_GRACE: Duration = Duration::from_secs(1);

pub struct World {
    sandbox: Option<Sandbox>,
    control: SandboxControl,
    channel_id: String,
    progress: HostProgress,
    status: watch::Receiver<ScriptStatus>,
    stop: watch::Sender<bool>,
    host: Option<JoinHandle<Result<(), HostError>>>,
    /// The host's own events handled so far (init, start, reloads).
    own_events: u64,
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
        let (status_tx, status) = watch::channel(ScriptStatus::default());
        let options = HostOptions {
            watch: false,
            reload_on_sighup: false,
            status: Some(status_tx),
            bundle: None,
            progress: Some(progress.clone()),
        };
        let (stop, stop_rx) = watch::channel(false);
        let (started_tx, started_rx) = oneshot::channel();
        let mut task = tokio::spawn(host::run(config, paths, options, stop_rx, Some(started_tx)));
        let started = tokio::select! {
            s = started_rx => s.ok(),
            r = &mut task => return Err(match r {
                Ok(Err(e)) => ScenarioError::Host(e),
                _ => ScenarioError::HostGone,
            }),
            _ = tokio::time::sleep(START_TIMEOUT) => None,
        };
        let Some(started) = started else {
            task.abort();
            return Err(ScenarioError::StartTimeout(START_TIMEOUT));
        };
        let mut world = World {
            sandbox: Some(sandbox),
            control,
            channel_id,
            progress,
            status,
            stop,
            host: Some(task),
            own_events: 2 + started.channels.len() as u64,
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

    /// Waits until the host handled every member action the sandbox handed
    /// to it and the sandbox applied every frame the host sent.
    pub async fn settle(&mut self) -> Result<(), ScenarioError> {
        let expected = self.control.stats().upward_frames;
        let reached = self
            .progress
            .settle(expected, self.own_events, SETTLE_TIMEOUT)
            .await;
        if reached.settled(expected, self.own_events) {
            return Ok(());
        }
        if self.host.as_ref().is_some_and(JoinHandle::is_finished) {
            return Err(self.host_ended().await);
        }
        Err(ScenarioError::NotSettled {
            timeout: SETTLE_TIMEOUT,
            handled: reached.upward_handled,
            expected,
            acked: reached.downward_acked,
            sent: reached.downward_sent,
        })
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

    /// Re-reads the scripts through the host's reload path, then settles.
    pub async fn reload(&mut self) -> Result<(), ScenarioError> {
        match self.progress.reload().await {
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
            Some(task) => match task.await {
                Ok(Err(e)) => ScenarioError::Host(e),
                _ => ScenarioError::HostGone,
            },
            None => ScenarioError::HostGone,
        }
    }

    /// Stops the host, then the sandbox.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.host.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        if let Some(sandbox) = self.sandbox.take() {
            let _ = tokio::time::timeout(STOP_GRACE, sandbox.shutdown()).await;
        }
    }
}
