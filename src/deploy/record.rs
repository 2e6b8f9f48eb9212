//! What a deploy is, as it is reported and remembered: the version a
//! script thread runs ([`VersionTag`]), one deploy's record
//! ([`DeployRecord`]) and the last [`HISTORY_LIMIT`] of them ([`History`]).
//!
//! These are plain serialisable values: the lone host keeps the history in
//! `data/deploys/history.json`, a cluster in Redis, and both print it the
//! same way (`deploy list`).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Deploys remembered. Each one may keep its bundle on disk (a service's
/// bundle is usually well under a megabyte, at most the bundle limit), and
/// an operator looks back over days, not months: 20 covers a busy week of
/// releases and their rollbacks while keeping `data/deploys/` small.
pub const HISTORY_LIMIT: usize = 20;

/// Which version a script thread runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionTag {
    /// The deploy that brought it; empty for the version the host started
    /// with (the service directory's files, or `run --bundle`).
    pub deploy_id: String,
    /// The bundle manifest's version; empty for the directory's files.
    pub version: String,
    /// SHA-256 of the bundle file (hex); empty for the directory's files.
    pub sha256: String,
}

impl VersionTag {
    /// The version a host starts with when no deploy brought it.
    pub fn started() -> Self {
        VersionTag::default()
    }

    /// True for the version the host started with (no deploy).
    pub fn is_start(&self) -> bool {
        self.deploy_id.is_empty()
    }

    /// `1.2.0 (deploy ID, sha256 abcd1234)`, or `the started version`.
    pub fn describe(&self) -> String {
        if self.is_start() {
            return "the version the host started with".into();
        }
        let sha = self.sha256.get(..12).unwrap_or(&self.sha256);
        format!("{} (deploy {}, sha256 {sha})", self.version, self.deploy_id)
    }
}

/// A deploy of a bundle, or a rollback to the version before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    Deploy,
    Rollback,
}

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every script thread runs the new version.
    Promoted,
    /// The canary judged it worse, or the operator rolled it back before
    /// it was promoted: every thread is back on the previous version.
    RolledBack,
    /// A thread could not compile it, or its `on_reload` failed on a copy
    /// of `this`: nothing changed.
    Vetoed,
    /// Refused before any thread saw it (unsigned, untrusted, not a bundle).
    Refused,
    /// The host stopped or failed during the deploy; what runs is in the
    /// threads' versions.
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Vetoed => "vetoed",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// Who vetoed a deploy, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Veto {
    /// Where: `script thread 2` (a cluster adds the node: `node b, script thread 2`).
    pub at: String,
    /// The framed diagnostic (compile error, or `on_reload`'s error).
    pub error: String,
}

/// One deploy, from the moment it was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    pub id: String,
    pub kind: DeployKind,
    /// The bundle manifest's name and version (empty: the directory's files).
    pub name: String,
    pub version: String,
    /// SHA-256 of the bundle file (hex); empty: the directory's files.
    pub sha256: String,
    /// The signing key's id, when the bundle is signed.
    pub signer: Option<String>,
    /// When it was asked for, and when it ended (ms since the Unix epoch).
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    /// `None` while in progress.
    pub outcome: Option<Outcome>,
    /// The canary's share of script threads (percent), when there was one.
    pub canary_pct: Option<u32>,
    /// Why it was vetoed, refused, rolled back or failed.
    pub reason: Option<String>,
    pub veto: Option<Veto>,
    /// What ran before it: what `deploy --rollback` goes back to.
    pub previous: VersionTag,
}

impl DeployRecord {
    /// The version this deploy brings.
    pub fn tag(&self) -> VersionTag {
        VersionTag {
            deploy_id: self.id.clone(),
            version: self.version.clone(),
            sha256: self.sha256.clone(),
        }
    }

    /// Ends the record.
    pub fn finish(&mut self, outcome: Outcome, reason: Option<String>, now_ms: u64) {
        self.outcome = Some(outcome);
        self.reason = reason;
        self.finished_ms = Some(now_ms);
    }
}

/// A deploy id: the time it was asked for and the start of the bundle's
/// hash, readable in a list and unique enough on one service
/// (`20261206-121503-3fa9c1d2`).
pub fn new_id(now_ms: u64, sha256: &str) -> String {
    let secs = now_ms / 1000;
    let (y, m, d) = crate::clock::civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    let sha = sha256.get(..8).unwrap_or("dir");
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{sha}",
        t / 3600,
        (t / 60) % 60,
        t % 60
    )
}

/// The last [`HISTORY_LIMIT`] deploys, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub records: VecDeque<DeployRecord>,
}

impl History {
    /// Adds a record (or replaces the one with its id); returns the records
    /// that fell out of the bound.
    pub fn put(&mut self, record: DeployRecord) -> Vec<DeployRecord> {
        if let Some(r) = self.records.iter_mut().find(|r| r.id == record.id) {
            *r = record;
            return Vec::new();
        }
        self.records.push_back(record);
        let extra = self.records.len().saturating_sub(HISTORY_LIMIT);
        self.records.drain(..extra).collect()
    }

    /// Newest first, as `deploy list` prints them.
    pub fn newest_first(&self) -> impl Iterator<Item = &DeployRecord> {
        self.records.iter().rev()
    }

    /// The last promoted deploy or rollback: what runs now, and what a
    /// restart runs.
    pub fn current(&self) -> Option<&DeployRecord> {
        self.newest_first()
            .find(|r| r.outcome == Some(Outcome::Promoted))
    }

    /// The bundles (by SHA-256) some record still needs: its own version
    /// or the one it would roll back to.
    pub fn referenced(&self) -> std::collections::BTreeSet<String> {
        self.records
            .iter()
            .flat_map(|r| [r.sha256.clone(), r.previous.sha256.clone()])
            .filter(|s| !s.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize, outcome: Option<Outcome>) -> DeployRecord {
        DeployRecord {
            id: format!("d{i}"),
            kind: DeployKind::Deploy,
            name: "zero".into(),
            version: format!("1.{i}.0"),
            sha256: format!("{i:064x}"),
            signer: None,
            started_ms: i as u64,
            finished_ms: None,
            outcome,
            canary_pct: None,
            reason: None,
            veto: None,
            previous: VersionTag::default(),
        }
    }

    #[test]
    fn the_history_keeps_the_last_deploys_and_says_what_fell_out() {
        let mut h = History::default();
        for i in 0..HISTORY_LIMIT {
            assert!(h.put(record(i, Some(Outcome::Promoted))).is_empty());
        }
        let dropped = h.put(record(HISTORY_LIMIT, Some(Outcome::Vetoed)));
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].id, "d0");
        assert_eq!(h.records.len(), HISTORY_LIMIT);
        assert_eq!(h.newest_first().next().map(|r| r.id.as_str()), Some("d20"));
        // The newest promoted one, not the newest.
        assert_eq!(h.current().map(|r| r.id.as_str()), Some("d19"));
        assert!(!h.referenced().contains(&format!("{:064x}", 0)));
    }

    #[test]
    fn a_record_put_again_is_updated_in_place() {
        let mut h = History::default();
        h.put(record(1, None));
        let mut done = record(1, None);
        done.finish(Outcome::Promoted, None, 5);
        h.put(done);
        assert_eq!(h.records.len(), 1);
        assert_eq!(h.current().and_then(|r| r.finished_ms), Some(5));
    }

    #[test]
    fn a_previous_version_keeps_its_bundle_referenced() {
        let mut h = History::default();
        let mut r = record(2, Some(Outcome::Promoted));
        r.previous = record(1, None).tag();
        h.put(r);
        assert!(h.referenced().contains(&format!("{:064x}", 1)));
    }

    #[test]
    fn ids_read_as_a_time_and_a_hash() {
        // 2026-12-06 12:15:03 UTC.
        let ms = 1_796_559_303_000;
        assert_eq!(new_id(ms, "3fa9c1d2ffff"), "20261206-121503-3fa9c1d2");
        assert_eq!(new_id(ms, ""), "20261206-121503-dir");
    }
}
