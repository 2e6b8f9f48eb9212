//! The deploy state machine's operations, each one Redis command or Lua
//! script, so that any node (or the CLI) may run any of them at any time:
//! two nodes deciding the same deploy at once leave it in one state.

use super::record::{Current, Record, State, Vote};
use super::HISTORY;
use crate::cluster::conn::RedisConn;
use crate::cluster::wire::Keys;
use crate::cluster::ClusterError;
use crate::deploy::canary::{judge, Verdict};
use crate::deploy::config::CanaryThresholds;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Moves `KEYS[1]`'s `state` from `ARGV[1]` to `ARGV[2]` (with `detail`
/// `ARGV[3]`); 1 if it moved, 0 if the state was not `ARGV[1]`.
const CAS: &str = r"
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'detail', ARGV[3])
return 1";

/// Commits: `KEYS[1]` the record, `KEYS[2]` current, `KEYS[3]` the
/// history; `ARGV[1]` the state it must be in, `ARGV[2]` the id, `ARGV[3]`
/// the sha, `ARGV[4]` the history's bound. Returns the new epoch, or 0.
const COMMIT: &str = r"
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'committed', 'detail', '')
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'sha', ARGV[3])
local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
redis.call('LREM', KEYS[3], 0, ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[2])
return epoch";

/// Votes only while the deploy is preparing: `KEYS[1]` the record,
/// `KEYS[2]` the votes, `ARGV[1]` the node, `ARGV[2]` the vote.
const VOTE: &str = r"
if redis.call('HGET', KEYS[1], 'state') ~= 'preparing' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1";

/// Sets `KEYS[1]`'s field `ARGV[1]` to Redis's clock in ms.
const SWAPPED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], now)";

/// Redis's clock in ms (one clock for every node's deadlines).
const NOW: &str = r"
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/// The deploys of one service's cluster.
pub struct Deploys {
    conn: Arc<RedisConn>,
    keys: Keys,
}

/// What [`Deploys::decide`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Still waiting for these live nodes' votes.
    Waiting(Vec<String>),
    /// The deploy has ended in this state (now or before).
    Ended(State),
}

impl Deploys {
    pub fn new(conn: Arc<RedisConn>, keys: Keys) -> Self {
        Deploys { conn, keys }
    }

    pub(super) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(super) fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, ClusterError> {
        self.conn.query(cmd)
    }

    pub(super) fn query_unit(&self, cmd: &redis::Cmd) -> Result<(), ClusterError> {
        self.conn.query(cmd)
    }

    pub(super) fn pipe_query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, ClusterError> {
        self.conn.pipe(pipe)
    }

    /// Redis's clock, in ms since the epoch.
    pub fn now_ms(&self) -> Result<u64, ClusterError> {
        self.conn.query(redis::cmd("EVAL").arg(NOW).arg(0))
    }

    /// Stores a bundle once under its SHA-256 (a second store of the same
    /// bytes changes nothing).
    pub fn store_bundle(&self, sha: &str, bytes: &[u8]) -> Result<(), ClusterError> {
        self.conn.query::<Option<String>>(
            redis::cmd("SET")
                .arg(self.keys.bundle(sha))
                .arg(bytes)
                .arg("NX"),
        )?;
        Ok(())
    }

    pub fn bundle(&self, sha: &str) -> Result<Option<Vec<u8>>, ClusterError> {
        self.conn
            .query(redis::cmd("GET").arg(self.keys.bundle(sha)))
    }

    pub fn record(&self, id: &str) -> Result<Option<Record>, ClusterError> {
        let f: BTreeMap<String, String> = self
            .conn
            .query(redis::cmd("HGETALL").arg(self.keys.deploy(id)))?;
        if f.is_empty() {
            return Ok(None);
        }
        Record::from_fields(&f)
            .map(Some)
            .ok_or_else(|| ClusterError::Unexpected(format!("deploy record {id} unreadable")))
    }

    /// Records `node`'s vote; false once the deploy has ended.
    pub fn vote(&self, id: &str, node: &str, vote: &Vote) -> Result<bool, ClusterError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(VOTE)
            .arg(2)
            .arg(self.keys.deploy(id))
            .arg(self.keys.deploy_votes(id))
            .arg(node)
            .arg(vote.encode());
        self.conn.query(&cmd)
    }

    pub fn votes(&self, id: &str) -> Result<BTreeMap<String, Vote>, ClusterError> {
        let raw: BTreeMap<String, String> = self
            .conn
            .query(redis::cmd("HGETALL").arg(self.keys.deploy_votes(id)))?;
        Ok(raw
            .into_iter()
            .map(|(n, v)| (n, Vote::decode(&v)))
            .collect())
    }

    /// Moves the state by compare-and-set; false if it was not `from`.
    pub fn advance(&self, id: &str, from: &State, to: &State) -> Result<bool, ClusterError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(CAS)
            .arg(1)
            .arg(self.keys.deploy(id))
            .arg(from.name())
            .arg(to.name())
            .arg(to.detail());
        self.conn.query(&cmd)
    }

    /// Looks at the votes of the live nodes (`live`, from the node set) and
    /// ends the deploy if it can: a veto aborts naming its node, every live
    /// node ready commits, the deadline passed aborts naming the nodes that
    /// did not vote. Safe to run from any number of nodes at once.
    pub fn decide(&self, id: &str, live: &[String]) -> Result<Decision, ClusterError> {
        let record = self
            .record(id)?
            .ok_or_else(|| ClusterError::Unexpected(format!("no deploy {id}")))?;
        if record.state.ended() {
            return Ok(Decision::Ended(record.state));
        }
        if let State::Canary { .. } = record.state {
            // Past voting: judged by `judge_canary`.
            return Ok(Decision::Waiting(Vec::new()));
        }
        let votes = self.votes(id)?;
        if let Some((node, Vote::Veto(reason))) =
            votes.iter().find(|(_, v)| matches!(v, Vote::Veto(_)))
        {
            let to = State::Vetoed {
                node: node.clone(),
                reason: reason.clone(),
            };
            return self.end(id, to);
        }
        let missing: Vec<String> = live
            .iter()
            .filter(|n| !votes.contains_key(*n))
            .cloned()
            .collect();
        if missing.is_empty() && !live.is_empty() {
            if record.canary_pct > 0 {
                let until_ms = self.now_ms()? + record.canary_window_ms;
                self.advance(id, &State::Preparing, &State::Canary { until_ms })?;
                return self.settled_or_waiting(id);
            }
            self.commit(&record, &State::Preparing)?;
            return self.settled(id);
        }
        if self.now_ms()? >= record.deadline_ms {
            let to = State::Vetoed {
                node: missing.join(","),
                reason: "did not vote before the deadline".into(),
            };
            return self.end(id, to);
        }
        Ok(Decision::Waiting(missing))
    }

    /// Judges a deploy in its canary with the canary's and baseline's
    /// counts in Redis: promotes (commits) or rolls back when
    /// [`judge`] says so; any node may run this, the first one's change
    /// wins. A deploy not in its canary is reported as it stands.
    pub fn judge_canary(
        &self,
        id: &str,
        thresholds: &CanaryThresholds,
    ) -> Result<Decision, ClusterError> {
        let record = self
            .record(id)?
            .ok_or_else(|| ClusterError::Unexpected(format!("no deploy {id}")))?;
        let State::Canary { until_ms } = record.state else {
            return self.settled_or_waiting(id);
        };
        let (canary, baseline) = self.stats(id)?;
        let window_over = self.now_ms()? >= until_ms;
        match judge(&canary, baseline.as_ref(), thresholds, window_over) {
            Verdict::Continue => Ok(Decision::Waiting(Vec::new())),
            Verdict::Promote { .. } => {
                self.commit(&record, &record.state)?;
                self.settled(id)
            }
            Verdict::Rollback { reason } => {
                self.advance(id, &record.state, &State::RolledBack { why: reason })?;
                self.settled(id)
            }
        }
    }

    /// Ended, or still open (waiting on nobody in particular).
    fn settled_or_waiting(&self, id: &str) -> Result<Decision, ClusterError> {
        match self.settled(id)? {
            Decision::Ended(s) if !s.ended() => Ok(Decision::Waiting(Vec::new())),
            d => Ok(d),
        }
    }

    fn end(&self, id: &str, to: State) -> Result<Decision, ClusterError> {
        self.advance(id, &State::Preparing, &to)?;
        self.settled(id)
    }

    fn settled(&self, id: &str) -> Result<Decision, ClusterError> {
        let record = self
            .record(id)?
            .ok_or_else(|| ClusterError::Unexpected(format!("no deploy {id}")))?;
        Ok(Decision::Ended(record.state))
    }

    /// Commits a preparing deploy: it becomes current, with a new epoch,
    /// and heads the history (pruned to [`HISTORY`]). None if it was not
    /// preparing (someone else ended it).
    fn commit(&self, record: &Record, from: &State) -> Result<Option<u64>, ClusterError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(COMMIT)
            .arg(3)
            .arg(self.keys.deploy(&record.id))
            .arg(self.keys.deploy_current())
            .arg(self.keys.deploy_history())
            .arg(from.name())
            .arg(&record.id)
            .arg(&record.sha);
        let epoch: u64 = self.conn.query(&cmd)?;
        if epoch == 0 {
            return Ok(None);
        }
        self.prune()?;
        Ok(Some(epoch))
    }

    /// Drops history beyond [`HISTORY`], with the records and bundles
    /// no kept deploy still uses.
    fn prune(&self) -> Result<(), ClusterError> {
        let history = self.keys.deploy_history();
        let dropped: Vec<String> = self
            .conn
            .query(redis::cmd("LRANGE").arg(&history).arg(HISTORY).arg(-1))?;
        if dropped.is_empty() {
            return Ok(());
        }
        let kept: Vec<String> = self.history()?;
        let kept_shas: Vec<String> = kept
            .iter()
            .filter_map(|id| self.record(id).ok().flatten().map(|r| r.sha))
            .collect();
        let mut pipe = redis::pipe();
        pipe.cmd("LTRIM")
            .arg(&history)
            .arg(0)
            .arg(HISTORY - 1)
            .ignore();
        for id in &dropped {
            if let Some(r) = self.record(id)? {
                if !kept_shas.contains(&r.sha) {
                    pipe.cmd("DEL").arg(self.keys.bundle(&r.sha)).ignore();
                }
            }
            self.forget(&mut pipe, id);
        }
        self.conn.pipe::<()>(&pipe)
    }

    /// Adds to `pipe` the deletion of deploy `id`'s keys (not its bundle).
    pub(super) fn forget(&self, pipe: &mut redis::Pipeline, id: &str) {
        for key in [
            self.keys.deploy(id),
            self.keys.deploy_votes(id),
            self.keys.deploy_swaps(id),
            self.keys.deploy_stats(id),
        ] {
            pipe.cmd("DEL").arg(key).ignore();
        }
    }

    /// The committed deploys' ids, newest first (at most [`HISTORY`]).
    pub fn history(&self) -> Result<Vec<String>, ClusterError> {
        self.conn.query(
            redis::cmd("LRANGE")
                .arg(self.keys.deploy_history())
                .arg(0)
                .arg(HISTORY as i64 - 1),
        )
    }

    /// The version the cluster runs (epoch 0 and empty: none deployed).
    pub fn current(&self) -> Result<Current, ClusterError> {
        let f: BTreeMap<String, String> = self
            .conn
            .query(redis::cmd("HGETALL").arg(self.keys.deploy_current()))?;
        Ok(Current {
            id: f.get("id").cloned().unwrap_or_default(),
            sha: f.get("sha").cloned().unwrap_or_default(),
            epoch: f.get("epoch").and_then(|e| e.parse().ok()).unwrap_or(0),
        })
    }

    /// Records that `node` now runs deploy `id`, at Redis's time.
    pub fn swapped(&self, id: &str, node: &str) -> Result<(), ClusterError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SWAPPED)
            .arg(1)
            .arg(self.keys.deploy_swaps(id))
            .arg(node);
        self.conn.query(&cmd)
    }

    /// Each node's swap time to deploy `id` (ms, Redis's clock).
    pub fn swaps(&self, id: &str) -> Result<BTreeMap<String, u64>, ClusterError> {
        self.conn
            .query(redis::cmd("HGETALL").arg(self.keys.deploy_swaps(id)))
    }

    /// The epoch alone: the fast look nodes run on every tick.
    pub fn epoch(&self) -> Result<u64, ClusterError> {
        let e: Option<u64> = self.conn.query(
            redis::cmd("HGET")
                .arg(self.keys.deploy_current())
                .arg("epoch"),
        )?;
        Ok(e.unwrap_or(0))
    }

    /// Rolls back in one step to the committed deploy before the current
    /// one: it becomes current again with a new epoch, and the current one
    /// is marked `rolled_back` with `why`. None if there is nothing before.
    pub fn rollback(&self, why: &str) -> Result<Option<Current>, ClusterError> {
        let history = self.history()?;
        let (Some(now), Some(prev)) = (history.first(), history.get(1)) else {
            return Ok(None);
        };
        let Some(prev_rec) = self.record(prev)? else {
            return Ok(None);
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ROLLBACK)
            .arg(3)
            .arg(self.keys.deploy(now))
            .arg(self.keys.deploy_current())
            .arg(self.keys.deploy_history())
            .arg(now)
            .arg(prev)
            .arg(&prev_rec.sha)
            .arg(why);
        let epoch: u64 = self.conn.query(&cmd)?;
        if epoch == 0 {
            return Ok(None);
        }
        Ok(Some(Current {
            id: prev.clone(),
            sha: prev_rec.sha,
            epoch,
        }))
    }
}

/// Rolls back: `KEYS[1]` the current deploy's record, `KEYS[2]` current,
/// `KEYS[3]` the history; `ARGV[1]` the current id (checked), `ARGV[2]`
/// and `ARGV[3]` the previous id and sha, `ARGV[4]` why. Returns the new
/// epoch, or 0 if the current deploy changed meanwhile.
const ROLLBACK: &str = r"
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'rolled_back', 'detail', ARGV[4])
redis.call('LREM', KEYS[3], 1, ARGV[1])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'sha', ARGV[3])
return redis.call('HINCRBY', KEYS[2], 'epoch', 1)";
