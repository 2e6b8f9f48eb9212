//! What every run of a service is made of, whether the lone host's
//! (`lone.rs`) or a cluster node's (`node/`): the controls the
//! [`RunningHost`](crate::host::RunningHost) holds, the platform's HTTP API,
//! and the script's side (stores, script threads, reloader, the outbox's way
//! in). Kept apart from both runs so that neither imports from the other.

use crate::cluster::lease::Lease;
use crate::config::Config;
use crate::host::outbox::{self, Downward};
use crate::host::reload::{bundle, trigger};
use crate::host::threads::executor::{Executor, ExecutorDeps, ThreadDeps};
use crate::host::threads::shards::ScriptSlot;
use crate::host::{HostError, HostOptions, ServicePaths};
use crate::platform::{HttpApi, Uploader};
use crate::script::watch::ScriptWatcher;
use crate::script::CompileOptions;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Sent once the service is connected, its channels initialised and
/// `on_start` queued: from then on, upward events reach the script.
#[derive(Debug, Clone)]
pub struct Started {
    pub service_id: String,
    pub channels: Vec<String>,
}

/// How the [`RunningHost`](crate::host::RunningHost) steers and observes the run.
pub(super) struct Controls {
    /// Becomes true to stop.
    pub stop: watch::Receiver<bool>,
    /// Told once the service serves.
    pub started: oneshot::Sender<Started>,
    /// Filled in with the script thread's queue once the script compiled.
    pub script: ScriptSlot,
    /// Receives the link's state, once there is a link.
    pub link: watch::Sender<crate::platform::LinkState>,
    /// Becomes true once the service serves (channels bound, on_start queued).
    pub serving: watch::Sender<bool>,
}

/// The platform's HTTP API as the config names it.
pub(super) fn http_api(config: &Config) -> Result<Arc<HttpApi>, HostError> {
    Ok(Arc::new(HttpApi::new(
        &config.service.http_server_uri,
        &config.account.email,
        config.account.password.clone(),
    )?))
}

/// The script's side of a run: the script threads, the reloader, and the
/// way into the outbox (whose task is the run's: it writes to a link, or to
/// a cluster's stream).
pub(super) struct ScriptSide {
    pub executor: Executor,
    pub reloader: Option<JoinHandle<()>>,
    pub uploader: Arc<Uploader>,
    pub outbox: outbox::OutboxSender,
}

impl ScriptSide {
    /// Opens the stores, compiles the script on its threads (telling
    /// `script` their queue) and starts the reloader. Returns the outbox's
    /// receiving end too. `agent_lock`: a cluster's (see
    /// `ExecutorDeps::agent_lock`).
    pub async fn start(
        config: &Config,
        paths: &ServicePaths,
        options: &mut HostOptions,
        http: &Arc<HttpApi>,
        script: &ScriptSlot,
        agent_lock: Option<Lease>,
    ) -> Result<(ScriptSide, mpsc::Receiver<Downward>), HostError> {
        let uploader = Arc::new(Uploader::new(http.clone(), paths.dir.clone()));
        let (outbox, outbox_rx) = outbox::OutboxSender::channel();
        let mut compile = CompileOptions::for_main(&paths.script).with_display_base(&paths.dir);
        compile.limits = config.script_limits.clone();
        let scripts_dir = compile.scripts_dir.clone();
        let deps = executor_deps(config, options, http, &uploader, &outbox, agent_lock)?;
        let executor = Executor::start(compile, deps).await?;
        let threads = config.service.script_threads;
        tracing::info!(script = %paths.script.display(), threads, "script compiled");
        let _ = script.set(executor.sender());
        let reloader = start_reloader(options, &executor, &scripts_dir);
        let side = ScriptSide {
            executor,
            reloader,
            uploader,
            outbox,
        };
        Ok((side, outbox_rx))
    }

    /// The current handler finishes (events queued behind it are dropped)
    /// and what the handlers sent is handed on, within
    /// [`crate::timeouts::FLUSH_BOUND`]: the deadline, which the run's
    /// writer (link or stream) shares.
    pub async fn stop(self, outbox_task: JoinHandle<()>) -> tokio::time::Instant {
        // The outbox ends once its way in is dropped, with `self`.
        self.stop_script().await;
        let deadline = tokio::time::Instant::now() + crate::timeouts::FLUSH_BOUND;
        let _ = tokio::time::timeout_at(deadline, outbox_task).await;
        deadline
    }

    /// Stops the reloader and the script threads (the current handler
    /// finishes, events queued behind it are dropped).
    pub async fn stop_script(self) {
        self.reloader.into_iter().for_each(|t| t.abort());
        self.executor.stop(crate::timeouts::SCRIPT_STOP_GRACE).await;
    }
}

/// What the script threads are started with. A locked database file or an
/// unreachable Redis stops the start here, before any network activity.
fn executor_deps(
    config: &Config,
    options: &mut HostOptions,
    http: &Arc<HttpApi>,
    uploader: &Arc<Uploader>,
    outbox: &outbox::OutboxSender,
    agent_lock: Option<Lease>,
) -> Result<ExecutorDeps, HostError> {
    let status = options
        .status
        .take()
        .unwrap_or_else(|| watch::channel(Default::default()).0);
    let stores = Arc::new(crate::store::Stores::open(&config.db_config)?);
    Ok(ExecutorDeps {
        base: ThreadDeps {
            outbox: outbox.clone(),
            http: http.clone(),
            uploader: uploader.clone(),
            rt: tokio::runtime::Handle::current(),
            progress: options.progress.clone(),
            requests: config.service.requests.clone(),
            request_budget: crate::host::callbacks::response_body::Budget::new(
                config.service.requests.budget_bytes,
            ),
            responder: options.responder.clone(),
            virtual_clock: options.virtual_clock.clone(),
            mode: config.service.mode,
        },
        stores,
        status,
        threads: config.service.script_threads,
        data_dir: config.db_config.data_dir.clone(),
        agent_lock,
        version: options.version.clone().unwrap_or_default(),
    })
}

/// Hot reload: a bundle's file, or the scripts directory (and SIGHUP).
fn start_reloader(
    options: &mut HostOptions,
    executor: &Executor,
    scripts_dir: &Path,
) -> Option<JoinHandle<()>> {
    if let Some(b) = options.bundle.take() {
        let to = bundle::SwapTo {
            events: executor.sender(),
            status: executor.status(),
        };
        return Some(bundle::spawn(b, options.reload_on_sighup, to));
    }
    let watcher = options.watch.then(|| ScriptWatcher::new(scripts_dir)).and_then(|w| match w {
        Ok(w) => {
            tracing::info!(dir = %scripts_dir.display(), "watching for changes");
            Some(w)
        }
        Err(e) => {
            tracing::warn!(dir = %scripts_dir.display(), error = %e, "cannot watch the scripts; hot reload is off");
            None
        }
    });
    (watcher.is_some() || options.reload_on_sighup)
        .then(|| trigger::spawn_reloader(watcher, options.reload_on_sighup, executor.sender()))
}
