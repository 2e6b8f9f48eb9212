//! The follower's steps on the script threads: prepare and vote, move to
//! the current version (the prepared one, or fetched now), and drop a
//! deploy that ended without this node.

use super::{fetch, Follower, Prepared};
use crate::cluster::deploy::record::{Current, Record, Vote};
use crate::cluster::ClusterError;
use crate::deploy::VersionTag;
use crate::host::NewSource;
use std::sync::Arc;

impl Follower {
    /// Prepares `record`'s bundle on every thread and votes: ready, or a
    /// veto with why (refused bundle, compile error, `on_reload` throwing
    /// in the dry run).
    pub(super) fn prepare_and_vote(&mut self, record: Record) -> Result<(), ClusterError> {
        let id = record.id.clone();
        tracing::info!(deploy = %id, version = %record.version, sha256 = %record.sha, "deploy: preparing");
        let vote = match self.prepare(&record) {
            Ok(tag) => {
                self.prepared = Some(Prepared {
                    record,
                    tag,
                    side: None,
                    committed: false,
                });
                Vote::Ready
            }
            Err(reason) => {
                tracing::warn!(deploy = %id, "deploy: this node vetoes it: {reason}");
                Vote::Veto(reason)
            }
        };
        let counted = self.deploys.vote(&id, &self.s.node, &vote)?;
        if !counted {
            // It ended meanwhile (vetoed elsewhere, or the deadline).
            self.drop_prepared(&id);
        }
        Ok(())
    }

    /// Fetches, verifies and prepares `record`'s version; its tag.
    fn prepare(&self, record: &Record) -> Result<VersionTag, String> {
        let unpacked = fetch::unpack(&self.deploys, &record.sha, &self.s.trust)?;
        let tag = VersionTag {
            deploy_id: record.id.clone(),
            version: unpacked.manifest.version.clone(),
            sha256: record.sha.clone(),
        };
        let source = NewSource {
            main: unpacked.entry(),
            base_dir: unpacked.root().to_path_buf(),
        };
        let keep: crate::host::KeepAlive = Arc::new(unpacked);
        self.block_on(self.s.versions.prepare(source, tag.clone(), Some(keep)))
            .map_err(|e| e.to_string())?;
        Ok(tag)
    }

    /// A new epoch: every thread moves to the current version.
    pub(super) fn follow_current(&mut self, epoch: u64) -> Result<(), ClusterError> {
        let current = self.deploys.current()?;
        if current.sha.is_empty() {
            self.epoch = Some(epoch);
            return Ok(());
        }
        let version = self
            .deploys
            .record(&current.id)?
            .map(|r| r.version)
            .unwrap_or_default();
        let want = VersionTag {
            deploy_id: current.id.clone(),
            version,
            sha256: current.sha.clone(),
        };
        let prepared = self
            .prepared
            .take_if(|p| p.tag.deploy_id == want.deploy_id && p.tag.sha256 == want.sha256);
        if let Some(p) = prepared {
            self.commit_rest(&p.tag);
        } else if !self.runs(&want) {
            self.catch_up(&current, want);
        }
        self.epoch = Some(epoch);
        Ok(())
    }

    /// True when every thread runs `tag` (by deploy and bundle).
    fn runs(&self, tag: &VersionTag) -> bool {
        self.s
            .versions
            .tags()
            .iter()
            .all(|t| t.deploy_id == tag.deploy_id && t.sha256 == tag.sha256)
    }

    /// Commits the prepared `tag` on the threads not on it yet, and makes
    /// it the node's version (no way back but another deploy).
    fn commit_rest(&mut self, tag: &VersionTag) {
        let rest: Vec<usize> = (0..self.s.versions.threads())
            .filter(|&i| self.s.versions.tags().get(i) != Some(tag))
            .collect();
        if !rest.is_empty() {
            if let Err(e) = self.block_on(self.s.versions.commit(&rest)) {
                tracing::error!(deploy = %tag.deploy_id, "deploy: committed in the cluster, but not on this node: {e}");
                let _ = self.block_on(self.s.versions.discard());
                return;
            }
        }
        self.finished(tag);
    }

    /// The version is in: the kept one dropped, pinned against file
    /// saves, the swap time recorded, shown.
    fn finished(&mut self, tag: &VersionTag) {
        let _ = self.block_on(self.s.versions.finish());
        self.s.versions.pin(Some(tag.clone()));
        if let Err(e) = self.deploys.swapped(&tag.deploy_id, &self.s.node) {
            tracing::debug!(error = %e, "deploy: cannot record the swap time");
        }
        tracing::info!(deploy = %tag.deploy_id, version = %tag.version, sha256 = %tag.sha256, "deploy: this node runs it");
        self.publish("committed");
    }

    /// The current version was not prepared here (this node came later, or
    /// it is a rollback): fetched, prepared and committed now.
    fn catch_up(&mut self, current: &Current, want: VersionTag) {
        let record = Record {
            id: current.id.clone(),
            sha: current.sha.clone(),
            version: want.version.clone(),
            signer: String::new(),
            by: String::new(),
            at_ms: 0,
            deadline_ms: 0,
            canary_pct: 0,
            canary_window_ms: 0,
            state: crate::cluster::deploy::record::State::Committed,
        };
        let moved = self.prepare(&record).and_then(|tag| {
            let all: Vec<usize> = (0..self.s.versions.threads()).collect();
            self.block_on(self.s.versions.commit(&all))
                .map(|()| tag)
                .map_err(|e| e.to_string())
        });
        match moved {
            Ok(tag) => self.finished(&tag),
            Err(why) => {
                let _ = self.block_on(self.s.versions.discard());
                tracing::error!(deploy = %current.id, "deploy: this node cannot run the cluster's current version, and keeps its own: {why}");
            }
        }
    }

    /// A deploy ended without being committed: its prepared version is
    /// dropped, and where a canary moved the threads they go back.
    pub(super) fn drop_prepared(&mut self, id: &str) {
        let Some(p) = self.prepared.take_if(|p| p.record.id == id) else {
            return;
        };
        if p.committed {
            let moved: Vec<usize> = (0..self.s.versions.threads())
                .filter(|&i| self.s.versions.tags().get(i) == Some(&p.tag))
                .collect();
            if let Err(e) = self.block_on(self.s.versions.revert(&moved)) {
                tracing::error!(deploy = %id, "deploy: the canary could not go back on this node: {e}");
            }
            let _ = self.block_on(self.s.versions.finish());
            tracing::info!(deploy = %id, "deploy: the canary went back on this node");
            self.publish("rolled_back");
        }
        let _ = self.block_on(self.s.versions.discard());
    }
}
