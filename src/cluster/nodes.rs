//! Live nodes and the partitions each one holds.
//!
//! [`LiveNodes`] is a heartbeat in a Redis sorted set (score: the time of
//! the last beat, by Redis's clock, so nodes' clocks need not agree); a
//! node that missed beats for a lease time is no longer live.
//! [`PartitionKeeper`] is one node's side of spreading the partitions: on
//! each tick it beats, computes its share from the live nodes
//! (`partitions::assign`), releases the partitions no longer its own,
//! renews the ones it keeps, and takes the ones assigned to it as their
//! leases come free. The leases decide who holds what at any moment; the
//! computation only says who should.

use super::conn::RedisConn;
use super::lease::{Held, Lease};
use super::{partitions, ClusterError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Beats and lists the live nodes: `KEYS[1]` the set, `KEYS[2]` its
/// epoch (counts the joins and leaves), `ARGV[1]` this node, `ARGV[2]`
/// how long a node stays live without a beat (ms). Returns the epoch,
/// then the nodes.
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local joined = redis.call('ZADD', KEYS[1], now, ARGV[1])
local gone = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if joined + gone > 0 then redis.call('INCR', KEYS[2]) end
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(live, 1, redis.call('GET', KEYS[2]) or '0')
return live";

/// One node's heartbeat in the cluster's node set.
pub struct LiveNodes {
    conn: Arc<RedisConn>,
    key: String,
    /// `<key>:epoch`: grows whenever a node joins or leaves.
    epoch_key: String,
    node: String,
    ttl: Duration,
}

impl LiveNodes {
    pub fn new(url: &str, key: &str, node: &str, ttl: Duration) -> Result<Self, ClusterError> {
        let conn = Arc::new(RedisConn::open(url, ttl)?);
        Ok(LiveNodes::on(conn, key, node, ttl))
    }

    /// The same, over a shared connection.
    pub fn on(conn: Arc<RedisConn>, key: &str, node: &str, ttl: Duration) -> Self {
        LiveNodes {
            conn,
            key: key.to_string(),
            epoch_key: format!("{key}:epoch"),
            node: node.to_string(),
            ttl,
        }
    }

    /// Beats, and returns the node set's epoch and the live nodes
    /// (this one included), by name.
    pub fn beat(&self) -> Result<(u64, Vec<String>), ClusterError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BEAT)
            .arg(2)
            .arg(&self.key)
            .arg(&self.epoch_key)
            .arg(&self.node)
            .arg(self.ttl.as_millis().max(1).to_string());
        let mut reply: Vec<String> = self.conn.query(&cmd)?;
        let epoch = if reply.is_empty() {
            0
        } else {
            reply.remove(0).parse().unwrap_or(0)
        };
        Ok((epoch, reply))
    }

    /// The node set's epoch: one round trip, to notice a join or a
    /// leave between ticks.
    pub fn epoch_on(&self, conn: &RedisConn) -> Result<u64, ClusterError> {
        let e: Option<u64> = conn.query(redis::cmd("GET").arg(&self.epoch_key))?;
        Ok(e.unwrap_or(0))
    }

    /// Leaves the set at once (a clean stop), so the others rebalance
    /// without waiting for this node's beats to age out.
    pub fn leave(&self) -> Result<(), ClusterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM").arg(&self.key).arg(&self.node).ignore();
        pipe.cmd("INCR").arg(&self.epoch_key).ignore();
        self.conn.pipe::<()>(&pipe)
    }
}

/// Lease times a partition may stay held, unassigned, waiting for what
/// was read from it to be handled; then it is released anyway (the next
/// owner claims what is left, and delivery is at least once). A time, not
/// a number of ticks: ticks come faster while partitions move.
const DRAIN_LEASES: u32 = 2;

/// One node's partitions: what it holds, kept in step with its share.
pub struct PartitionKeeper {
    node: String,
    /// Shared by the leases: each tick renews and takes in one round trip.
    conn: Arc<RedisConn>,
    nodes: LiveNodes,
    /// One lease per partition, `KEY_PREFIX:part:<p>`.
    leases: Vec<Lease>,
    held: BTreeMap<usize, Held>,
    /// Held but no longer assigned here: since when they are draining.
    leaving: BTreeMap<usize, Instant>,
    /// Given up at the last tick, not yet released in Redis (see
    /// [`PartitionKeeper::release_dropped`]).
    releasing: Vec<(usize, Held)>,
    ttl: Duration,
    live: Vec<String>,
    /// The node set's epoch at the last tick.
    epoch: u64,
    /// At the last tick, a partition assigned here was still held by
    /// another node (being handed over, or its holder's lease running).
    short: bool,
}

impl PartitionKeeper {
    /// `prefix` is the cluster's key prefix (`moobius:<service>:cluster`).
    pub fn new(
        url: &str,
        prefix: &str,
        node: &str,
        partitions: usize,
        ttl: Duration,
    ) -> Result<Self, ClusterError> {
        let conn = Arc::new(RedisConn::open(url, ttl)?);
        Ok(Self::on(conn, prefix, node, partitions, ttl))
    }

    /// The same, over a shared connection.
    pub fn on(
        conn: Arc<RedisConn>,
        prefix: &str,
        node: &str,
        partitions: usize,
        ttl: Duration,
    ) -> Self {
        let leases = (0..partitions)
            .map(|p| Lease::on(conn.clone(), &format!("{prefix}:part:{p}"), node, ttl))
            .collect();
        PartitionKeeper {
            node: node.to_string(),
            nodes: LiveNodes::on(conn.clone(), &format!("{prefix}:nodes"), node, ttl),
            conn,
            leases,
            held: BTreeMap::new(),
            leaving: BTreeMap::new(),
            releasing: Vec::new(),
            ttl,
            live: Vec::new(),
            epoch: 0,
            short: false,
        }
    }

    /// One round (run it at least every lease time / 3): returns the
    /// partitions this node holds now, each with its fencing token. A
    /// partition no longer assigned here is released at once.
    pub fn tick(&mut self) -> Result<&BTreeMap<usize, Held>, ClusterError> {
        self.tick_draining(|_| true)?;
        self.release_dropped()?;
        Ok(&self.held)
    }

    /// One round, where a partition no longer assigned here is kept (and
    /// renewed) until `drained(p)` says what was read from it is handled,
    /// for at most [`DRAIN_LEASES`] lease times. The caller stops reading
    /// the partitions in [`PartitionKeeper::leaving`] at once, and calls
    /// [`PartitionKeeper::release_dropped`] once it stopped acting on the
    /// partitions no longer in [`PartitionKeeper::held`].
    pub fn tick_draining(&mut self, drained: impl Fn(usize) -> bool) -> Result<(), ClusterError> {
        (self.epoch, self.live) = self.nodes.beat()?;
        let mine = partitions::owned_by(&self.node, &self.live, self.leases.len());
        self.hand_over(&mine, drained);
        self.renew_due()?;
        let wanted: Vec<usize> = mine
            .into_iter()
            .filter(|p| !self.held.contains_key(p))
            .collect();
        // One round trip for every attempt (and one for every renewal): a
        // tick costs the same with 4 partitions or 1,024.
        let leases: Vec<&Lease> = wanted.iter().map(|p| &self.leases[*p]).collect();
        let taken = Lease::acquire_all(&self.conn, &leases)?;
        self.short = taken.iter().any(Option::is_none);
        for (p, t) in wanted.into_iter().zip(taken) {
            if let Some(h) = t {
                self.held.insert(p, h);
            }
        }
        // A lease that ran out by this process's clock is not held, whatever
        // Redis said a moment ago.
        self.held.retain(|_, h| h.valid());
        self.leaving.retain(|p, _| self.held.contains_key(p));
        Ok(())
    }

    /// Partitions no longer assigned here start draining; the drained ones,
    /// and those that drained for too long, move from `held` to `releasing`.
    fn hand_over(&mut self, mine: &[usize], drained: impl Fn(usize) -> bool) {
        let gone: Vec<usize> = self
            .held
            .keys()
            .filter(|p| !mine.contains(p))
            .copied()
            .collect();
        // Assigned here again: no longer leaving.
        self.leaving.retain(|p, _| gone.contains(p));
        let budget = self.ttl * DRAIN_LEASES;
        for p in gone {
            let since = *self.leaving.entry(p).or_insert_with(Instant::now);
            if drained(p) || since.elapsed() >= budget {
                self.leaving.remove(&p);
                if let Some(h) = self.held.remove(&p) {
                    self.releasing.push((p, h));
                }
            }
        }
    }

    /// Renews, in one round trip, the leases renewed more than a sixth of
    /// a lease ago: every one on a tick at the normal pace (a third of a
    /// lease), every few on the faster ticks while partitions move.
    fn renew_due(&mut self) -> Result<(), ClusterError> {
        let due: Vec<(usize, Held)> = self
            .held
            .iter()
            .filter(|(_, h)| h.age() >= self.ttl / 6)
            .map(|(p, h)| (*p, h.clone()))
            .collect();
        let pairs: Vec<(&Lease, &Held)> = due.iter().map(|(p, h)| (&self.leases[*p], h)).collect();
        // On an error they stay as they were: they end by this process's clock.
        let renewed = Lease::renew_all(&self.conn, &pairs)?;
        for ((p, _), r) in due.into_iter().zip(renewed) {
            match r {
                Some(r) => self.held.insert(p, r),
                None => self.held.remove(&p),
            };
        }
        Ok(())
    }

    /// Releases in Redis what the last tick gave up. Called once this
    /// node no longer acts on them (the roles thread first takes them out
    /// of its fences), so that a new owner, which may take a released
    /// partition within 100 ms, never overlaps an old owner that still
    /// passes its own fence.
    pub fn release_dropped(&mut self) -> Result<(), ClusterError> {
        let mut first_error = None;
        for (p, h) in std::mem::take(&mut self.releasing) {
            if let Err(e) = self.leases[p].release(&h) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// What this node holds, with the tokens.
    pub fn held(&self) -> &BTreeMap<usize, Held> {
        &self.held
    }

    /// Held partitions being handed over: read no more from them.
    pub fn leaving(&self) -> impl Iterator<Item = usize> + '_ {
        self.leaving.keys().copied()
    }

    /// Partitions are moving to or from this node: one assigned here is
    /// held elsewhere, or one held here waits to be drained. The caller
    /// may tick sooner until they have moved.
    pub fn settling(&self) -> bool {
        self.short || !self.leaving.is_empty()
    }

    /// True when a node joined or left since the last tick (one round
    /// trip): the caller ticks now instead of at its next tick, so that a
    /// partition another node released for this one is taken at once.
    /// `look` is a connection of its own with a short timeout, so that a
    /// slow answer never holds back the renewals on the keeper's.
    pub fn nodes_changed(&self, look: &RedisConn) -> Result<bool, ClusterError> {
        Ok(self.nodes.epoch_on(look)? != self.epoch)
    }

    /// The live nodes at the last tick.
    pub fn live(&self) -> &[String] {
        &self.live
    }

    /// Gives every partition up (a clean stop).
    pub fn release_all(&mut self) {
        let _ = self.release_dropped();
        for (p, h) in std::mem::take(&mut self.held) {
            let _ = self.leases[p].release(&h);
        }
        let _ = self.nodes.leave();
    }
}
