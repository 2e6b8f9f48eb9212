//! Taking partitions over: [`PartitionKeeper`] is one node's side of
//! spreading the partitions. On each tick it beats (`nodes.rs`), computes
//! its share from the live nodes (`partitions::assign`), releases the
//! partitions no longer its own once drained, renews the ones it keeps,
//! and takes over the ones assigned to it as their leases come free. The
//! leases decide who holds what at any moment; the computation only says
//! who should. (What a new owner does with the previous owner's entries is
//! `consumer.rs`'s.)

use super::conn::RedisConn;
use super::lease::{Held, Lease};
use super::nodes::LiveNodes;
use super::{partitions, ClusterError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
