//! A lone host's deploys (docs/DEPLOY.md): a bundle handed to the running
//! host (through the admin endpoint's `POST /deploy`) becomes the version
//! every script thread runs, in two phases, or changes nothing.
//!
//! The bundle is kept content-addressed under `data/deploys/`, verified and
//! unpacked (a host with `trusted_keys` refuses an unsigned bundle or
//! another key's), prepared on every thread (compiled, and its `on_reload`
//! dry-run on a copy of `this`: a thread that cannot is a veto), then
//! committed: on every thread at once, or first on a canary share of the
//! threads, watched against the others for a window (`canary.rs`) and
//! then promoted or rolled back by itself. `deploy --rollback` is the same
//! path towards the version that ran before. Each deploy is a record in
//! the history (`files.rs`); the last promoted one is what a restart runs.
//! One deploy at a time: another is refused (HTTP 409) while one runs.

mod canary;
pub mod files;
mod outcome;
mod source;

pub use source::StartVersion;

use crate::bundle::{BundleLimits, TrustedKeys};
use crate::deploy::{DeployConfig, DeployKind, DeployRecord, History, Outcome};
use crate::host::probe::HostProbe;
use crate::host::reload::stage::Versions;
use crate::host::status::{now_ms, DeployStatus, ScriptStatus};
use crate::host::KeepAlive;
use crate::host::NewSource;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, OwnedMutexGuard};

/// What a lone host's deploys need besides the host.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The service directory's `data/` (history and bundles go in `deploys/`).
    pub data_dir: PathBuf,
    /// `service_config.trusted_keys`, as at start.
    pub trust: TrustedKeys,
    pub limits: BundleLimits,
    pub config: DeployConfig,
    /// What the host started with (a rollback past the first deploy).
    pub start: StartVersion,
}

/// How to roll a bundle out.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    /// Commit on this share of the script threads first (1 to 100).
    pub canary_pct: Option<u32>,
    /// How long to watch the canary [default: the config's `canary_window_ms`].
    pub window: Option<Duration>,
}

/// What `POST /deploy` (and `deploy list`) report of one deploy.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    #[serde(flatten)]
    pub record: DeployRecord,
    /// `preparing`, `canary`, ... while it runs; its outcome afterwards.
    pub state: String,
    /// The host's script threads, and those the canary runs on.
    pub threads: usize,
    pub canary_threads: Vec<usize>,
    /// What the operator should know (a canary that is the whole service,
    /// thin evidence...).
    pub notes: Vec<String>,
}

/// Why a deploy did not start.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "deploy {0} is in progress; another waits until it ends (see `moobius-host deploy list`)"
    )]
    Busy(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("nothing to roll back to: {0}")]
    NothingToRollBack(String),
    #[error("the service is not running yet")]
    NotRunning,
    #[error("{0}")]
    Io(String),
}

/// The lone host's deploys (cheap to clone).
#[derive(Clone)]
pub struct Deployer(Arc<Inner>);

struct Inner {
    probe: HostProbe,
    status: watch::Sender<ScriptStatus>,
    opts: DeployOptions,
    busy: Arc<tokio::sync::Mutex<()>>,
    /// The id of the deploy in progress (for the refusal's line).
    running: Mutex<Option<String>>,
    /// The canary being watched: its deploy's id, and how to end it early
    /// (`deploy --rollback` during a canary rolls it back).
    canary: Mutex<Option<(String, Arc<tokio::sync::Notify>)>>,
    history: Mutex<History>,
}

/// One deploy as it goes, with the lock that keeps others out.
struct Run {
    record: DeployRecord,
    versions: Versions,
    notes: Vec<String>,
    canary_threads: Vec<usize>,
    _guard: OwnedMutexGuard<()>,
}

impl Deployer {
    /// Reads the history; a deploy that was running when the host stopped
    /// is recorded as failed (a restart runs the last promoted version).
    pub fn new(probe: HostProbe, status: watch::Sender<ScriptStatus>, opts: DeployOptions) -> Self {
        let mut history = files::load(&opts.data_dir).unwrap_or_else(|why| {
            tracing::warn!("deploy history unreadable, starting a new one: {why}");
            History::default()
        });
        let mut interrupted = false;
        for r in history.records.iter_mut().filter(|r| r.outcome.is_none()) {
            r.finish(
                Outcome::Failed,
                Some("the host stopped during the deploy".into()),
                now_ms(),
            );
            interrupted = true;
        }
        if interrupted {
            if let Err(e) = files::save(&opts.data_dir, &history) {
                tracing::warn!(error = %e, "cannot write the deploy history");
            }
        }
        if let Some(r) = history.current() {
            let shown = DeployStatus {
                id: r.id.clone(),
                version: r.version.clone(),
                sha256: r.sha256.clone(),
                state: Outcome::Promoted.name().into(),
            };
            status.send_modify(|s| s.deploy = Some(shown));
        }
        Deployer(Arc::new(Inner {
            probe,
            status,
            opts,
            busy: Arc::new(tokio::sync::Mutex::new(())),
            running: Mutex::new(None),
            canary: Mutex::new(None),
            history: Mutex::new(history),
        }))
    }

    /// The remembered deploys, newest first.
    pub fn history(&self) -> Vec<DeployRecord> {
        self.lock_history().newest_first().cloned().collect()
    }

    /// The deploy in progress, if any.
    pub fn in_progress(&self) -> Option<String> {
        self.0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lock_history(&self) -> std::sync::MutexGuard<'_, History> {
        self.0
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Deploys the bundle in `bytes`. A refused or vetoed bundle is an
    /// `Ok` report with that outcome; a canary answers once it started
    /// (state `canary`) and goes on by itself.
    pub async fn deploy(
        &self,
        bytes: Vec<u8>,
        req: DeployRequest,
    ) -> Result<DeployReport, DeployError> {
        if let Some(pct) = req.canary_pct.filter(|p| !(1..=100).contains(p)) {
            return Err(DeployError::BadRequest(format!(
                "canary {pct}% is out of range (1 to 100)"
            )));
        }
        let guard = self.try_lock()?;
        let versions = self.0.probe.versions().ok_or(DeployError::NotRunning)?;
        let data_dir = self.0.opts.data_dir.clone();
        let kept = tokio::task::spawn_blocking(move || files::keep_bundle(&data_dir, &bytes))
            .await
            .map_err(|e| DeployError::Io(e.to_string()))?
            .map_err(|e| {
                DeployError::Io(format!("cannot keep the bundle under data/deploys: {e}"))
            })?;
        let (sha, path) = kept;
        let record = self.new_record(DeployKind::Deploy, &sha, req.canary_pct, &versions);
        let mut run = self.begin(record, versions, guard);
        let unpacked = match source::unpack(path, &self.0.opts).await {
            Ok(u) => u,
            Err(why) => return Ok(self.end(run, Outcome::Refused, Some(why))),
        };
        run.record.name = unpacked.manifest.name.clone();
        run.record.version = unpacked.manifest.version.clone();
        run.record.signer = unpacked.signer.map(|k| k.to_string());
        let source = NewSource {
            main: unpacked.entry(),
            base_dir: unpacked.root().to_path_buf(),
        };
        self.roll_out(run, source, Arc::new(unpacked), req).await
    }

    /// Back to the version that ran before the current one, in one step.
    /// During a canary, ends it: its threads go back, and the report is
    /// the canary's deploy, rolled back.
    pub async fn rollback(&self) -> Result<DeployReport, DeployError> {
        let canary = self
            .0
            .canary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((id, stop)) = canary {
            return self.end_canary(id, stop).await;
        }
        let guard = self.try_lock()?;
        let versions = self.0.probe.versions().ok_or(DeployError::NotRunning)?;
        let current = self.lock_history().current().cloned().ok_or_else(|| {
            DeployError::NothingToRollBack("no deploy was promoted on this host".into())
        })?;
        let target = current.previous.clone();
        let (source, keep, manifest) = source::of(&target, &self.0.opts).await?;
        let mut record = self.new_record(DeployKind::Rollback, &target.sha256, None, &versions);
        record.version = target.version.clone();
        record.previous = current.tag();
        if let Some((name, signer)) = manifest {
            record.name = name;
            record.signer = signer;
        }
        let run = self.begin(record, versions, guard);
        self.roll_out(run, source, keep, DeployRequest::default())
            .await
    }

    /// Tells the canary `id` to roll back and waits for it to have.
    async fn end_canary(
        &self,
        id: String,
        stop: Arc<tokio::sync::Notify>,
    ) -> Result<DeployReport, DeployError> {
        stop.notify_one();
        let ended = tokio::time::timeout(
            crate::timeouts::DEPLOY_STEP,
            self.0.busy.clone().lock_owned(),
        )
        .await
        .map_err(|_| DeployError::Busy(id.clone()))?;
        drop(ended);
        let record = self
            .lock_history()
            .records
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| DeployError::Io(format!("deploy {id} left the history")))?;
        let state = record.outcome.map_or("unknown", Outcome::name).to_string();
        Ok(DeployReport {
            record,
            state,
            threads: self.0.probe.versions().map_or(0, |v| v.threads()),
            canary_threads: Vec::new(),
            notes: vec![
                "`deploy --rollback` during a canary ends it: the canary's threads went back"
                    .into(),
            ],
        })
    }

    fn try_lock(&self) -> Result<OwnedMutexGuard<()>, DeployError> {
        self.0.busy.clone().try_lock_owned().map_err(|_| {
            DeployError::Busy(self.in_progress().unwrap_or_else(|| "(starting)".into()))
        })
    }

    fn new_record(
        &self,
        kind: DeployKind,
        sha: &str,
        canary_pct: Option<u32>,
        versions: &Versions,
    ) -> DeployRecord {
        let now = now_ms();
        let previous = versions.tags().into_iter().next().unwrap_or_default();
        DeployRecord {
            id: self.lock_history().fresh_id(now, sha),
            kind,
            name: String::new(),
            version: String::new(),
            sha256: sha.to_string(),
            signer: None,
            started_ms: now,
            finished_ms: None,
            outcome: None,
            canary_pct,
            reason: None,
            veto: None,
            previous,
        }
    }

    /// The deploy starts: recorded, shown, and the only one.
    fn begin(&self, record: DeployRecord, versions: Versions, guard: OwnedMutexGuard<()>) -> Run {
        *self
            .0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(record.id.clone());
        let run = Run {
            record,
            versions,
            notes: Vec::new(),
            canary_threads: Vec::new(),
            _guard: guard,
        };
        self.show(&run, "preparing");
        self.remember(&run.record);
        run
    }

    /// Prepares on every thread, then commits everywhere or starts the canary.
    async fn roll_out(
        &self,
        mut run: Run,
        source: NewSource,
        keep: KeepAlive,
        req: DeployRequest,
    ) -> Result<DeployReport, DeployError> {
        let tag = run.record.tag();
        tracing::info!(id = %run.record.id, version = %run.record.version, sha256 = %run.record.sha256, "deploy: preparing");
        if let Err(e) = run.versions.prepare(source, tag, Some(keep)).await {
            return Ok(self.vetoed(run, e));
        }
        let n = run.versions.threads();
        let Some(pct) = req.canary_pct else {
            return Ok(self.promote(run, (0..n).collect(), None).await);
        };
        let k = crate::deploy::canary_size(pct, n);
        run.canary_threads = (0..k).collect();
        if k == n {
            run.notes.push(if n == 1 {
                "one script thread: the canary is the whole service, judged on its own handler errors".into()
            } else {
                format!("{pct}% of {n} script threads is every thread: the canary is the whole service, judged on its own handler errors")
            });
        }
        let marks = run.versions.stats();
        if let Err(e) = run.versions.commit(&run.canary_threads).await {
            let _ = run.versions.discard().await;
            return Ok(self.end(
                run,
                Outcome::Failed,
                Some(format!("the canary did not start: {e}")),
            ));
        }
        self.show(&run, "canary");
        let window = req.window.unwrap_or(self.0.opts.config.canary_window);
        tracing::info!(id = %run.record.id, threads = ?run.canary_threads, window_ms = window.as_millis() as u64, "deploy: canary started");
        let report = self.report(&run, "canary");
        let stop = Arc::new(tokio::sync::Notify::new());
        *self.0.canary.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((run.record.id.clone(), stop.clone()));
        tokio::spawn(canary::watch(self.clone(), run, marks, window, stop));
        Ok(report)
    }
}

/// What a restart runs: the last promoted deploy's bundle, if it brought
/// one and it is still there (`Ok(None)`: the version the host starts
/// with); why the history cannot be read otherwise.
pub fn restart_version(
    data_dir: &std::path::Path,
) -> Result<Option<(DeployRecord, PathBuf)>, crate::Reason> {
    let history = files::load(data_dir)?;
    let Some(current) = history.current().cloned() else {
        return Ok(None);
    };
    if current.sha256.is_empty() {
        return Ok(None);
    }
    let path = files::bundle_path(data_dir, &current.sha256);
    if !path.exists() {
        return Err(format!(
            "the last deploy ({}) is missing its bundle {}",
            current.id,
            path.display()
        ));
    }
    Ok(Some((current, path)))
}
