//! Watching the scripts directory and turning file events into bursts.
//!
//! Editors save in many ways: write in place, truncate then write (possibly
//! with a pause), write a temp file and rename it over the original (vim,
//! emacs, VS Code), and `git checkout` touches several files at once. All of
//! them produce a quick series of events; a burst ends when the directory has
//! been quiet for a short while, and one burst asks for one reload.

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A burst is over after this much quiet.
pub const QUIET: Duration = Duration::from_millis(25);
/// A burst never lasts longer than this (a file rewritten in a loop still reloads).
pub const MAX_BURST: Duration = Duration::from_millis(500);

pub struct ScriptWatcher {
    _watcher: RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<PathBuf>,
}

fn is_script(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "rhai")
}

fn counts(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any => true,
        // The writer closing the file is the clearest "done" signal there is.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        _ => false,
    }
}

impl ScriptWatcher {
    /// Watches `dir` recursively for changes to `.rhai` files.
    pub fn new(dir: &Path) -> Result<Self, notify::Error> {
        Self::filtered(dir, RecursiveMode::Recursive, is_script)
    }

    /// Watches one file through its directory, so that replacing it by a
    /// rename (which a watch on the file itself would lose) is seen too, as
    /// is copying over it.
    pub fn for_file(file: &Path) -> Result<Self, notify::Error> {
        let name = file.file_name().map(|n| n.to_os_string());
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Self::filtered(&dir, RecursiveMode::NonRecursive, move |p| {
            name.is_some() && p.file_name() == name.as_deref()
        })
    }

    fn filtered(
        dir: &Path,
        mode: RecursiveMode,
        keep: impl Fn(&Path) -> bool + Send + 'static,
    ) -> Result<Self, notify::Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(event) if counts(&event.kind) => {
                    for p in event.paths.into_iter().filter(|p| keep(p)) {
                        let _ = tx.send(p);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "file watcher error"),
            })?;
        watcher.watch(dir, mode)?;
        Ok(ScriptWatcher {
            _watcher: watcher,
            rx,
        })
    }

    /// Waits for the next burst of changes; `None` when the watcher is gone.
    pub async fn next_burst(&mut self) -> Option<BTreeSet<PathBuf>> {
        let first = self.rx.recv().await?;
        let mut changed = BTreeSet::from([first]);
        self.extend_burst(&mut changed).await;
        Some(changed)
    }

    /// Collects further events until `QUIET` passes without one.
    async fn extend_burst(&mut self, changed: &mut BTreeSet<PathBuf>) {
        let end = Instant::now() + MAX_BURST;
        loop {
            let quiet_until = (Instant::now() + QUIET).min(end);
            match tokio::time::timeout_at(quiet_until, self.rx.recv()).await {
                Ok(Some(p)) => {
                    changed.insert(p);
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Returns a new burst if one starts within `wait`, else `None`.
    pub async fn burst_within(&mut self, wait: Duration) -> Option<BTreeSet<PathBuf>> {
        let first = tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()?;
        let mut changed = BTreeSet::from([first]);
        self.extend_burst(&mut changed).await;
        Some(changed)
    }
}
