//! The deploy in progress, what each node runs, and the log of every
//! deploy started.
//!
//! Nodes learn of a deploy by looking at `deploy:active` (with the epoch
//! of `deploy:current`, one round trip: [`Deploys::look`]); one deploy runs
//! at a time, which [`Deploys::begin`] enforces in Redis, so two operators
//! starting at once leave one deploy. Every deploy started is in the log,
//! so that `deploy list` shows vetoed and rolled-back ones too, and so
//! that pruning can drop those (they never enter the history of commits).

use super::machine::Deploys;
use super::record::Record;
use super::HISTORY;
use crate::cluster::ClusterError;
use std::collections::BTreeMap;

/// Starts a deploy unless another is in progress: `KEYS[1]` the record,
/// `KEYS[2]` active, `KEYS[3]` the log; `ARGV[1]` the records' key prefix,
/// `ARGV[2]` the id, then the record's fields. Returns `started`, `exists`
/// (that id was used) or `busy <id>`.
const BEGIN: &str = r"
local a = redis.call('GET', KEYS[2])
if a then
  local s = redis.call('HGET', ARGV[1] .. a, 'state')
  if s == 'preparing' or s == 'canary' then return 'busy ' .. a end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[2])
return 'started'";

/// What [`Deploys::begin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    Started,
    /// A deploy with that id exists already.
    Exists,
    /// Deploy `.0` is in progress: one at a time.
    Busy(String),
}

/// Deploys kept in the log beyond the history's commits: the last vetoed
/// and rolled-back ones, for `deploy list`; older ones are pruned.
pub const LOG: usize = 2 * HISTORY;

impl Deploys {
    /// Writes a new deploy's record (state `preparing`) and makes it the
    /// active one, unless another deploy is in progress.
    pub fn begin(&self, record: &Record) -> Result<Begun, ClusterError> {
        let keys = self.keys();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BEGIN)
            .arg(3)
            .arg(keys.deploy(&record.id))
            .arg(keys.deploy_active())
            .arg(keys.deploy_log())
            .arg(keys.deploy(""))
            .arg(&record.id);
        for (k, v) in record.fields() {
            cmd.arg(k).arg(v);
        }
        let answer: String = self.query(&cmd)?;
        let begun = match answer.strip_prefix("busy ") {
            Some(id) => Begun::Busy(id.to_string()),
            None if answer == "started" => Begun::Started,
            None => Begun::Exists,
        };
        if begun == Begun::Started {
            self.prune_log()?;
        }
        Ok(begun)
    }

    /// Writes a new deploy's record; false if it was not started (that id
    /// exists, or another deploy is in progress).
    pub fn start(&self, record: &Record) -> Result<bool, ClusterError> {
        Ok(self.begin(record)? == Begun::Started)
    }

    /// The id of the deploy in progress or the last one started.
    pub fn active(&self) -> Result<Option<String>, ClusterError> {
        self.query(redis::cmd("GET").arg(self.keys().deploy_active()))
    }

    /// The fast look a node runs every tick: the epoch of the current
    /// version, and the active deploy's id.
    pub fn look(&self) -> Result<(u64, Option<String>), ClusterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGET")
            .arg(self.keys().deploy_current())
            .arg("epoch")
            .cmd("GET")
            .arg(self.keys().deploy_active());
        let (epoch, active): (Option<u64>, Option<String>) = self.pipe_query(&pipe)?;
        Ok((epoch.unwrap_or(0), active))
    }

    /// Every deploy started, newest first (at most [`LOG`]).
    pub fn log(&self) -> Result<Vec<String>, ClusterError> {
        self.query(
            redis::cmd("LRANGE")
                .arg(self.keys().deploy_log())
                .arg(0)
                .arg(LOG as i64 - 1),
        )
    }

    /// Records the version `node` runs (`id sha version`; empty id: the
    /// files it started with).
    pub fn set_running(
        &self,
        node: &str,
        id: &str,
        sha: &str,
        version: &str,
    ) -> Result<(), ClusterError> {
        self.query_unit(
            redis::cmd("HSET")
                .arg(self.keys().deploy_running())
                .arg(node)
                .arg(format!("{id} {sha} {version}")),
        )
    }

    /// Forgets a node that left (its entry would outlive it otherwise).
    pub fn clear_running(&self, node: &str) -> Result<(), ClusterError> {
        self.query_unit(
            redis::cmd("HDEL")
                .arg(self.keys().deploy_running())
                .arg(node),
        )
    }

    /// Each live node's version: node -> (deploy id, sha, version). The
    /// entries of nodes no longer in the node set (killed, so they could
    /// not clear theirs) are deleted here, which bounds the hash.
    pub fn running(&self) -> Result<BTreeMap<String, (String, String, String)>, ClusterError> {
        let key = self.keys().deploy_running();
        let mut raw: BTreeMap<String, String> = self.query(redis::cmd("HGETALL").arg(&key))?;
        let live: Vec<String> =
            self.query(redis::cmd("ZRANGE").arg(self.keys().nodes()).arg(0).arg(-1))?;
        let gone: Vec<String> = raw.keys().filter(|n| !live.contains(n)).cloned().collect();
        if !gone.is_empty() {
            self.query_unit(redis::cmd("HDEL").arg(&key).arg(&gone))?;
            raw.retain(|n, _| live.contains(n));
        }
        Ok(raw
            .into_iter()
            .map(|(node, v)| {
                let mut parts = v.splitn(3, ' ');
                let mut next = || parts.next().unwrap_or_default().to_string();
                let (id, sha, version) = (next(), next(), next());
                (node, (id, sha, version))
            })
            .collect())
    }

    /// The deploys kept (the history, the log and the current one) and the
    /// bundles they use.
    fn kept(&self) -> Result<(Vec<String>, Vec<String>), ClusterError> {
        let mut kept = self.history()?;
        kept.extend(self.log()?);
        let current = self.current()?;
        kept.push(current.id.clone());
        let mut shas = vec![current.sha];
        for id in &kept {
            if let Some(r) = self.record(id)? {
                shas.push(r.sha);
            }
        }
        Ok((kept, shas))
    }

    /// Deletes the stored bundle `sha` unless a kept deploy uses it: the
    /// bundle of a deploy that was never begun (refused as busy) would
    /// otherwise stay in Redis for good, since pruning only looks at
    /// deploys. A deploy of the same bundle begun between the check and the
    /// delete would lose it and be vetoed (the bundle is not in Redis), not run wrong.
    pub fn drop_bundle_unless_kept(&self, sha: &str) -> Result<(), ClusterError> {
        let (_, shas) = self.kept()?;
        if !shas.iter().any(|s| s == sha) {
            self.query::<()>(redis::cmd("DEL").arg(self.keys().bundle(sha)))?;
        }
        Ok(())
    }

    /// Drops deploys beyond [`LOG`] in the log that the history does not
    /// keep (vetoed, rolled back, or committed long ago): their records,
    /// votes, swaps, counts, and bundles no kept deploy uses.
    fn prune_log(&self) -> Result<(), ClusterError> {
        let log_key = self.keys().deploy_log();
        let old: Vec<String> = self.query(redis::cmd("LRANGE").arg(&log_key).arg(LOG).arg(-1))?;
        if old.is_empty() {
            return Ok(());
        }
        let (kept, kept_shas) = self.kept()?;
        let mut pipe = redis::pipe();
        pipe.cmd("LTRIM").arg(&log_key).arg(0).arg(LOG - 1).ignore();
        for id in old.iter().filter(|id| !kept.contains(id)) {
            if let Some(r) = self.record(id)? {
                if !kept_shas.contains(&r.sha) {
                    pipe.cmd("DEL").arg(self.keys().bundle(&r.sha)).ignore();
                }
            }
            self.forget(&mut pipe, id);
        }
        self.pipe_query::<()>(&pipe)
    }
}
