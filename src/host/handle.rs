//! The host as a value: start a service, wait until it serves, watch its
//! script's status, and stop it. `run`, `dev` and the scenario runner all
//! start services this way, so the start sequence exists once (in
//! `lifecycle.rs`).

use super::lifecycle::{self, Started};
use super::{HostError, HostOptions, HostProgress, ScriptStatus, ServicePaths};
use crate::config::Config;
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
        let task = tokio::spawn(lifecycle::run(config, paths, options, stop_rx, started_tx));
        RunningHost {
            stop,
            task,
            started: Some(started_rx),
            status,
            progress,
        }
    }
}

/// A service started by [`Host::start`]. Dropping it stops nothing: call
/// [`RunningHost::shutdown`].
pub struct RunningHost {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), HostError>>,
    started: Option<oneshot::Receiver<Started>>,
    status: watch::Receiver<ScriptStatus>,
    progress: Option<HostProgress>,
}

impl RunningHost {
    /// Waits until the service is connected, its channels initialised and
    /// `on_start` queued. `Ok(None)` when it was stopped before that; the
    /// error that ended it otherwise (a broken script, a refused sign-in...).
    pub async fn started(&mut self) -> Result<Option<Started>, HostError> {
        let Some(rx) = self.started.take() else {
            return Ok(None);
        };
        tokio::select! {
            s = rx => match s {
                Ok(started) => Ok(Some(started)),
                Err(_) => self.finished().await.map(|()| None),
            },
            r = &mut self.task => Self::outcome(r).map(|()| None),
        }
    }

    /// The script's status (version, files, last reload error), as it changes.
    pub fn status(&self) -> watch::Receiver<ScriptStatus> {
        self.status.clone()
    }

    /// The progress counters, when the options asked for them.
    pub fn progress(&self) -> Option<&HostProgress> {
        self.progress.as_ref()
    }

    /// True once the service has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits until the service ends on its own; its outcome.
    pub async fn finished(&mut self) -> Result<(), HostError> {
        Self::outcome((&mut self.task).await)
    }

    /// Stops the service: no more events are taken, the current handler
    /// finishes and what it sent is flushed. Waits at most `grace` for that;
    /// the outcome of the run (`Ok` when it had to be cut short).
    pub async fn shutdown(mut self, grace: Duration) -> Result<(), HostError> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(r) => Self::outcome(r),
            Err(_) => {
                self.task.abort();
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
