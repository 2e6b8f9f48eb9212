//! What the script threads publish about their versions, for deploys: the
//! version each one runs, its handler counters (the canary's evidence),
//! and whether a deployed version is pinned against file saves.
//!
//! Shared by the threads (which write it) and the [`EventSender`] (whose
//! deploy steps read it), with nothing else in it, so that neither side's
//! file needs the other's.
//!
//! [`EventSender`]: crate::host::threads::shards::EventSender

use crate::deploy::{AtomicHandlerStats, VersionTag};
use std::sync::{Mutex, PoisonError};

#[derive(Debug)]
pub struct ThreadVersions {
    /// Each thread's handler counters, by thread index.
    pub stats: Vec<AtomicHandlerStats>,
    /// Each thread's running version, by thread index.
    tags: Mutex<Vec<VersionTag>>,
    /// A deployed version every thread runs: file saves (and a replaced
    /// `--bundle` file) do not replace it (docs/DEPLOY.md).
    pinned: Mutex<Option<VersionTag>>,
}

impl ThreadVersions {
    pub fn new(threads: usize) -> Self {
        let n = threads.max(1);
        ThreadVersions {
            stats: (0..n).map(|_| AtomicHandlerStats::default()).collect(),
            tags: Mutex::new(vec![VersionTag::started(); n]),
            pinned: Mutex::new(None),
        }
    }

    /// Every thread's running version, by thread index.
    pub fn tags(&self) -> Vec<VersionTag> {
        self.tags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Thread `index` now runs `tag`; true when every thread runs it.
    pub fn set_tag(&self, index: usize, tag: &VersionTag) -> bool {
        let mut tags = self.tags.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = tags.get_mut(index) {
            *t = tag.clone();
        }
        tags.iter().all(|t| t == tag)
    }

    pub fn pinned(&self) -> Option<VersionTag> {
        self.pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn pin(&self, tag: Option<VersionTag>) {
        *self.pinned.lock().unwrap_or_else(PoisonError::into_inner) = tag;
    }
}
