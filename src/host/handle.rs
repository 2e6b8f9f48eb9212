//! The host as a value: start a service, wait until it serves, watch its
//! script's status, and stop it. `run`, `dev` and the scenario runner all
//! start services this way, so the start sequence exists once (in
//! `lone.rs`, or `node/` for a cluster's node).

use crate::config::Config;
use crate::host::events::ReloadRequest;
use crate::host::probe::HostProbe;
use crate::host::reload::round::ReloadOutcome;
use crate::host::run::{Controls, Started};
use crate::host::threads::shards::ScriptSlot;
use crate::host::{HostError, HostOptions, HostProgress, ScriptStatus, ServicePaths};
use crate::platform::LinkState;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Starts services (see [`Host::start`]).
pub struct Host;

impl Host {
    /// Starts the service in a task and returns at once; nothing has been
    /// checked yet (see [`RunningHost::started`]).
    pub fn start(config: Config, paths: ServicePaths, mut options: HostOptions) -> RunningHost {
        let status = options
            .status
            .get_or_insert_with(|| watch::channel(ScriptStatus::default()).0)
            .subscribe();
        let progress = options.progress.clone();
        let (stop, stop_rx) = watch::channel(false);
        let (started_tx, started_rx) = oneshot::channel();
        let script = ScriptSlot::default();
        let (link_tx, link_rx) = watch::channel(LinkState::Connecting { attempt: 0 });
        let (serving_tx, serving_rx) = watch::channel(false);
        let probe = HostProbe {
            script: script.clone(),
            status: status.clone(),
            link: link_rx,
            started: serving_rx,
        };
        let controls = Controls {
            stop: stop_rx,
            started: started_tx,
            script: script.clone(),
            link: link_tx,
            serving: serving_tx,
        };
        let task = tokio::spawn(run(config, paths, options, controls));
        RunningHost {
            stop,
            script,
            probe,
            task: Some(task),
            started: Some(started_rx),
            status,
            progress,
        }
    }
}

/// A lone host's run, or a cluster node's.
async fn run(
    config: Config,
    paths: ServicePaths,
    options: HostOptions,
    controls: Controls,
) -> Result<(), HostError> {
    match config.cluster.clone() {
        Some(cluster) => crate::host::node::run(config, cluster, paths, options, controls).await,
        None => crate::host::lone::run(config, paths, options, controls).await,
    }
}

/// What a reload requested through [`RunningHost::reload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadResult {
    Reloaded,
    Unchanged,
    /// The scripts do not compile (the error is in the script status).
    Failed,
    /// The host is not running.
    Gone,
}

/// A service started by [`Host::start`]. Dropping it stops the service (as
/// [`RunningHost::shutdown`] does, without waiting).
pub struct RunningHost {
    stop: watch::Sender<bool>,
    script: ScriptSlot,
    probe: HostProbe,
    /// `None` once it ended and its outcome was reported.
    task: Option<JoinHandle<Result<(), HostError>>>,
    started: Option<oneshot::Receiver<Started>>,
    status: watch::Receiver<ScriptStatus>,
    progress: Option<HostProgress>,
}

impl RunningHost {
    /// Waits until the service is connected, its channels initialised and
    /// `on_start` queued. `Ok(None)` when it ended before that (stopped);
    /// the error that ended it otherwise (a broken script, a refused
    /// sign-in...).
    pub async fn started(&mut self) -> Result<Option<Started>, HostError> {
        let Some(rx) = self.started.take() else {
            return Ok(None);
        };
        let Some(task) = self.task.as_mut() else {
            return Ok(None);
        };
        let joined = tokio::select! {
            s = rx => match s {
                Ok(started) => return Ok(Some(started)),
                Err(_) => task.await,
            },
            r = &mut *task => r,
        };
        self.task = None;
        Self::outcome(joined).map(|()| None)
    }

    /// The script's status (version, files, last reload error), as it changes.
    pub fn status(&self) -> watch::Receiver<ScriptStatus> {
        self.status.clone()
    }

    /// The progress counters, when the options asked for them.
    pub fn progress(&self) -> Option<&HostProgress> {
        self.progress.as_ref()
    }

    /// Re-reads the scripts from disk through the host's reload path (as a
    /// save would), between two events, and waits for the outcome.
    pub async fn reload(&self) -> ReloadResult {
        let Some(tx) = self.script.get() else {
            return ReloadResult::Gone;
        };
        let (reply, rx) = oneshot::channel();
        let request = ReloadRequest {
            changed: Vec::new(),
            report_failure: true,
            reply: Some(reply),
            source: None,
            round: None,
            compiled: Vec::new(),
        };
        if tx.compile_and_reload(request).await.is_err() {
            return ReloadResult::Gone;
        }
        match rx.await {
            Ok(ReloadOutcome::Reloaded) => ReloadResult::Reloaded,
            Ok(ReloadOutcome::Unchanged) => ReloadResult::Unchanged,
            Ok(ReloadOutcome::Failed | ReloadOutcome::EntryEmpty) => ReloadResult::Failed,
            Err(_) => ReloadResult::Gone,
        }
    }

    /// What an operator may ask (health, readiness, status, spells).
    pub fn probe(&self) -> HostProbe {
        self.probe.clone()
    }

    /// True once the service has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits until the service ends on its own; its outcome (reported once:
    /// `Ok` afterwards).
    /// Cancel-safe: dropping this future leaves the service as it was.
    pub async fn finished(&mut self) -> Result<(), HostError> {
        let Some(task) = self.task.as_mut() else {
            return Ok(());
        };
        let joined = task.await;
        self.task = None;
        Self::outcome(joined)
    }

    /// Stops the service: no more events are taken and the current handler
    /// finishes. Waits at most `grace`; frames not yet written to the
    /// platform by then are not waited for. The outcome of the run (`Ok`
    /// when it had to be cut short).
    pub async fn shutdown(mut self, grace: Duration) -> Result<(), HostError> {
        let _ = self.stop.send(true);
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(grace, &mut task).await {
            Ok(r) => Self::outcome(r),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }

    fn outcome(
        joined: Result<Result<(), HostError>, tokio::task::JoinError>,
    ) -> Result<(), HostError> {
        // A panic already ended the process (see main.rs); a cancelled task
        // has nothing to report.
        joined.unwrap_or(Ok(()))
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
