//! Live swap of a bundle: `run --bundle FILE` watches FILE and, when it is
//! replaced, hands the new version to the ordinary hot-reload machinery.
//!
//! Unpacking is the verification (every entry, size and hash, see
//! [`crate::bundle`]) and happens off the script thread, into a new private
//! directory; the new version is compiled from there (off the script
//! threads) and swapped in between two events exactly as for an edited
//! script ([`crate::host::reload::apply`]). The
//! directory of the running version stays alive until the swap succeeded; a
//! refused or broken bundle is logged at error level, shown as the status's
//! reload error, and changes nothing. A refusal includes a bundle that is
//! unsigned or signed by another key when the config trusts keys.
//! A copy over the file shows up as a truncated archive first, so, as for
//! half-written scripts, a failure is reported only once the file is quiet.

use crate::bundle::{self, BundleLimits, TrustedKeys, Unpacked};
use crate::host::events::{NewSource, ReloadRequest};
use crate::host::reload::round::ReloadOutcome;
use crate::host::reload::trigger::{self, SETTLE};
use crate::host::status::ScriptStatus;
use crate::host::threads::shards::EventSender;
use crate::script::watch::ScriptWatcher;
use std::path::PathBuf;
use tokio::sync::{oneshot, watch};

/// Serve a bundle and follow its replacements.
#[derive(Debug)]
pub struct BundleOptions {
    /// The bundle file to watch.
    pub file: PathBuf,
    pub limits: BundleLimits,
    /// `service_config.trusted_keys`: a replacement signed otherwise is refused.
    pub trust: TrustedKeys,
    /// The running version, unpacked (kept alive while it runs).
    pub current: Unpacked,
}

/// Where a swap reports: the events, and the status (its reload error).
pub struct SwapTo {
    pub events: EventSender,
    pub status: watch::Sender<ScriptStatus>,
}

enum Attempt {
    /// Swapped, or the same files as the running version.
    Done,
    Failed,
    /// The script thread is gone.
    Closed,
}

/// Watches the bundle file (and SIGHUP when `on_sighup`) until the script
/// thread stops.
pub fn spawn(
    mut options: BundleOptions,
    on_sighup: bool,
    to: SwapTo,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut watcher = match ScriptWatcher::for_file(&options.file) {
            Ok(w) => {
                tracing::info!(bundle = %options.file.display(), "watching the bundle for replacements");
                Some(w)
            }
            Err(e) => {
                tracing::warn!(bundle = %options.file.display(), error = %e, "cannot watch the bundle; live swap is off");
                None
            }
        };
        let mut hup = on_sighup.then(trigger::sighup).flatten();
        loop {
            tokio::select! {
                burst = next_burst(&mut watcher) => if burst.is_none() { return },
                Some(()) = trigger::next_signal(&mut hup) => {
                    tracing::info!("SIGHUP: re-reading the bundle");
                }
            }
            if trigger::deployed_runs(&to.events, std::slice::from_ref(&options.file)) {
                continue;
            }
            loop {
                match attempt(&mut options, &to, false).await {
                    Attempt::Closed => return,
                    Attempt::Done => {}
                    Attempt::Failed => {
                        // Maybe still being copied: a new burst supersedes
                        // this one; if the file stays quiet, the error is real.
                        let more = match watcher.as_mut() {
                            Some(w) => w.burst_within(SETTLE).await,
                            None => None,
                        };
                        if more.is_some() {
                            continue;
                        }
                        if let Attempt::Closed = attempt(&mut options, &to, true).await {
                            return;
                        }
                    }
                }
                break;
            }
        }
    })
}

async fn next_burst(watcher: &mut Option<ScriptWatcher>) -> Option<()> {
    match watcher {
        Some(w) => w.next_burst().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

/// Verifies and unpacks the file, then asks the script thread to swap.
async fn attempt(options: &mut BundleOptions, to: &SwapTo, report: bool) -> Attempt {
    let file = options.file.clone();
    let limits = options.limits;
    let trust = options.trust.clone();
    let unpacked =
        tokio::task::spawn_blocking(move || bundle::unpack(&file, &limits, &trust)).await;
    let next = match unpacked {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => {
            if report {
                tracing::error!(bundle = %options.file.display(), "new bundle refused, the previous version keeps running: {e}");
                to.status
                    .send_modify(|s| s.error = Some(format!("new bundle refused: {e}")));
            } else {
                tracing::debug!("tentative bundle read failed: {e}");
            }
            return Attempt::Failed;
        }
        Err(e) => {
            tracing::error!("bundle unpacking stopped: {e}");
            return Attempt::Failed;
        }
    };
    if next.manifest.files == options.current.manifest.files {
        tracing::debug!("bundle replaced by the same files; no swap");
        // What runs is what the file holds again: no refusal stands.
        to.status.send_modify(|s| s.error = None);
        return Attempt::Done;
    }
    let tx = &to.events;
    let source = NewSource {
        main: next.entry(),
        base_dir: next.root().to_path_buf(),
    };
    let (reply, rx) = oneshot::channel();
    let request = ReloadRequest {
        changed: vec![options.file.clone()],
        report_failure: report,
        reply: Some(reply),
        source: Some(source.clone()),
        round: None,
        compiled: Vec::new(),
    };
    if tx.compile_and_reload(request).await.is_err() {
        return Attempt::Closed;
    }
    match rx.await {
        Err(_) => Attempt::Closed,
        Ok(ReloadOutcome::Reloaded) => {
            tracing::info!(
                name = %next.manifest.name,
                from = %options.current.manifest.version,
                to = %next.manifest.version,
                signer = %next.signer.map_or("none".to_string(), |k| k.to_string()),
                "bundle swapped"
            );
            tx.relocate(&source);
            // The previous version's directory goes away here.
            options.current = next;
            Attempt::Done
        }
        Ok(_) => Attempt::Failed,
    }
}
