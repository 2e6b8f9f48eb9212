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
            task: Some(task),
            started: Some(started_rx),
            status,
            progress,
        }
    }
}

/// A service started by [`Host::start`]. Dropping it stops the service (as
/// [`RunningHost::shutdown`] does, without waiting).
pub struct RunningHost {
    stop: watch::Sender<bool>,
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
