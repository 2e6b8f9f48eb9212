//! Hot reload, the triggering half: an async task that turns file bursts
//! and SIGHUP into reload requests for the script thread (which does the
//! swap, `apply.rs`). A compile error right after a burst may be a
//! half-written file, so it is reported only if it persists once the files
//! are quiet for [`SETTLE`].

use crate::host::events::ReloadRequest;
use crate::host::reload::round::ReloadOutcome;
use crate::host::threads::shards::EventSender;
use crate::script::watch::ScriptWatcher;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long files must stay quiet before a failed compile is reported.
pub(in crate::host) const SETTLE: Duration = Duration::from_millis(150);

/// Asks the script thread to reload and waits for the outcome.
async fn request(
    tx: &EventSender,
    changed: Vec<PathBuf>,
    report_failure: bool,
) -> Option<ReloadOutcome> {
    let (reply, rx) = oneshot::channel();
    tx.compile_and_reload(ReloadRequest {
        changed,
        report_failure,
        reply: Some(reply),
        source: None,
        round: None,
        compiled: Vec::new(),
    })
    .await
    .ok()?;
    rx.await.ok()
}

/// The reload trigger loop: file bursts (when `watcher` is given) and SIGHUP
/// (when `on_sighup`). Ends when the script thread is gone.
pub fn spawn_reloader(
    mut watcher: Option<ScriptWatcher>,
    on_sighup: bool,
    tx: EventSender,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut hup = on_sighup.then(sighup).flatten();
        loop {
            let changed: Vec<PathBuf> = tokio::select! {
                burst = next_burst(&mut watcher) => match burst {
                    Some(b) => b,
                    None => return,
                },
                Some(()) = next_signal(&mut hup) => {
                    tracing::info!("SIGHUP: reloading");
                    Vec::new()
                }
            };
            if deployed_runs(&tx, &changed) {
                continue;
            }
            let mut changed = changed;
            loop {
                match request(&tx, changed.clone(), false).await {
                    None => return,
                    Some(ReloadOutcome::Failed) => {
                        // Maybe half-written: a new burst supersedes this one;
                        // if the files stay quiet, the error is real.
                        let more = match watcher.as_mut() {
                            Some(w) => w.burst_within(SETTLE).await,
                            None => None,
                        };
                        match more {
                            Some(b) => {
                                changed = b.into_iter().collect();
                                continue;
                            }
                            None => {
                                if request(&tx, changed, true).await.is_none() {
                                    return;
                                }
                            }
                        }
                    }
                    Some(_) => {}
                }
                break;
            }
        }
    })
}

/// True (and said once per save, at WARN) when a deployed version runs:
/// the files' change is not applied over it (docs/DEPLOY.md).
pub(in crate::host) fn deployed_runs(tx: &EventSender, changed: &[PathBuf]) -> bool {
    let Some(tag) = tx.versions().pinned() else {
        return false;
    };
    let shown: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
    tracing::warn!(
        changed = ?shown,
        "the files changed, but {} runs: not reloaded (`moobius-host deploy --rollback` goes back to the version before it; deploy a bundle of these files to run them)",
        tag.describe()
    );
    true
}

async fn next_burst(watcher: &mut Option<ScriptWatcher>) -> Option<Vec<PathBuf>> {
    match watcher {
        Some(w) => w.next_burst().await.map(|b| b.into_iter().collect()),
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
pub(in crate::host) type Hangup = tokio::signal::unix::Signal;
#[cfg(not(unix))]
pub(in crate::host) type Hangup = ();

#[cfg(unix)]
pub(in crate::host) fn sighup() -> Option<Hangup> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    }
}

#[cfg(not(unix))]
pub(in crate::host) fn sighup() -> Option<Hangup> {
    None
}

pub(in crate::host) async fn next_signal(hup: &mut Option<Hangup>) -> Option<()> {
    #[cfg(unix)]
    if let Some(h) = hup {
        return h.recv().await;
    }
    let _ = hup;
    std::future::pending().await
}
