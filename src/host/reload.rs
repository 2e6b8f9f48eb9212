//! Hot reload: new code between two events, with `this` kept.
//!
//! The watcher side (an async task) turns file bursts and SIGHUP into reload
//! requests for the script thread. The script thread compiles the whole
//! service (entry + imports) in the gap between two events; on success the new
//! version takes over `this` and gets `on_reload()`, on failure the old one
//! keeps running. A compile error right after a burst may be a half-written
//! file, so it is reported only if it persists once the files are quiet.
//!
//! A request may also bring a new source ([`NewSource`]: a swapped bundle's
//! private directory). The swap is the same; on success the script thread
//! also switches its compile options and the uploader's base directory, so
//! later reloads and relative resource paths follow the new version.

use super::bridge::HostBridge;
use super::events::{HostEvent, ReloadOutcome, ReloadRequest};
use super::status::{now_ms, ScriptStatus};
use crate::script::watch::ScriptWatcher;
use crate::script::{CompileOptions, ServiceScript};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// How long files must stay quiet before a failed compile is reported.
pub(super) const SETTLE: Duration = Duration::from_millis(150);

/// Runs on the script thread, between two events.
pub(super) fn apply(
    script: &mut ServiceScript,
    bridge: &Rc<HostBridge>,
    opts: &mut CompileOptions,
    status: &watch::Sender<ScriptStatus>,
    req: ReloadRequest,
) {
    let outcome = match &req.source {
        None => compile_and_swap(script, bridge, opts, status, &req),
        Some(source) => {
            let moved = opts.relocated(&source.main, &source.base_dir);
            let outcome = compile_and_swap(script, bridge, &moved, status, &req);
            if matches!(outcome, ReloadOutcome::Reloaded) {
                *opts = moved;
                bridge.uploader.set_base_dir(source.base_dir.clone());
            }
            outcome
        }
    };
    if let Some(reply) = req.reply {
        let _ = reply.send(outcome);
    }
}

fn compile_and_swap(
    script: &mut ServiceScript,
    bridge: &Rc<HostBridge>,
    opts: &CompileOptions,
    status: &watch::Sender<ScriptStatus>,
    req: &ReloadRequest,
) -> ReloadOutcome {
    let started = Instant::now();
    if std::fs::metadata(&opts.main)
        .map(|m| m.len() == 0)
        .unwrap_or(false)
    {
        tracing::debug!("entry script is empty; waiting for its content");
        return ReloadOutcome::EntryEmpty;
    }
    let changed: Vec<String> = req.changed.iter().map(|p| opts.display(p)).collect();
    let mut fresh = match ServiceScript::load(opts, bridge.clone()) {
        Ok(s) => s,
        Err(d) => {
            if req.report_failure {
                tracing::error!(changed = ?changed, "reload failed, the previous version keeps running: {d}");
                status.send_modify(|s| s.error = Some(d.to_string()));
            } else {
                tracing::debug!("tentative reload failed: {d}");
            }
            return ReloadOutcome::Failed;
        }
    };
    // A new source is a new version even with the same scripts (its
    // resources may differ, and its directory replaces the current one).
    if req.source.is_none() && fresh.same_content(script) {
        tracing::debug!(changed = ?changed, "files changed but the service did not; no reload");
        status.send_modify(|s| s.error = None);
        return ReloadOutcome::Unchanged;
    }
    fresh.adopt_state(script);
    *script = fresh;
    let took = started.elapsed();
    let files = script.display_files(opts);
    let mut version = 0;
    status.send_modify(|s| {
        s.version += 1;
        version = s.version;
        s.loaded_at_ms = now_ms();
        s.files = files;
        s.last_reload_ms = Some(took.as_millis() as u64);
        s.error = None;
    });
    tracing::info!(version, changed = ?changed, took_ms = took.as_secs_f64() * 1000.0, "reloaded");
    match script.call("on_reload", vec![]) {
        Ok(_) => {}
        Err(d) => tracing::error!(handler = "on_reload", "{d}"),
    }
    ReloadOutcome::Reloaded
}

/// Asks the script thread to reload and waits for the outcome.
async fn request(
    tx: &mpsc::UnboundedSender<HostEvent>,
    changed: Vec<PathBuf>,
    report_failure: bool,
) -> Option<ReloadOutcome> {
    let (reply, rx) = oneshot::channel();
    tx.send(HostEvent::Reload(ReloadRequest {
        changed,
        report_failure,
        reply: Some(reply),
        source: None,
    }))
    .ok()?;
    rx.await.ok()
}

/// The reload trigger loop: file bursts (when `watcher` is given) and SIGHUP
/// (when `on_sighup`). Ends when the script thread is gone.
pub fn spawn_reloader(
    mut watcher: Option<ScriptWatcher>,
    on_sighup: bool,
    tx: mpsc::UnboundedSender<HostEvent>,
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

async fn next_burst(watcher: &mut Option<ScriptWatcher>) -> Option<Vec<PathBuf>> {
    match watcher {
        Some(w) => w.next_burst().await.map(|b| b.into_iter().collect()),
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
pub(super) type Hangup = tokio::signal::unix::Signal;
#[cfg(not(unix))]
pub(super) type Hangup = ();

#[cfg(unix)]
pub(super) fn sighup() -> Option<Hangup> {
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
pub(super) fn sighup() -> Option<Hangup> {
    None
}

pub(super) async fn next_signal(hup: &mut Option<Hangup>) -> Option<()> {
    #[cfg(unix)]
    if let Some(h) = hup {
        return h.recv().await;
    }
    let _ = hup;
    std::future::pending().await
}
