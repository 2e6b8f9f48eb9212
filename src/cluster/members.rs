//! Live members and the partitions each one holds.
//!
//! [`Membership`] is a heartbeat in a Redis sorted set (score: the time of
//! the last beat, by Redis's clock, so members' clocks need not agree); a
//! member that missed beats for a lease time is no longer live.
//! [`PartitionKeeper`] is one member's side of spreading the partitions: on
//! each tick it beats, computes its share from the live members
//! (`partitions::assign`), releases the partitions no longer its own,
//! renews the ones it keeps, and takes the ones assigned to it as their
//! leases come free. The leases decide who holds what at any moment; the
//! computation only says who should.

use super::lease::{Held, Lease};
use super::{partitions, ClusterError};
use std::collections::BTreeMap;
use std::time::Duration;

/// Beats and lists the live members: `KEYS[1]` the set, `ARGV[1]` this
/// member, `ARGV[2]` how long a member stays live without a beat (ms).
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return redis.call('ZRANGE', KEYS[1], 0, -1)";

/// One member's heartbeat in the cluster's member set.
pub struct Membership {
    client: redis::Client,
    shown_url: String,
    key: String,
    node: String,
    ttl: Duration,
}

impl Membership {
    pub fn new(url: &str, key: &str, node: &str, ttl: Duration) -> Result<Self, ClusterError> {
        let (client, shown_url) = super::open(url)?;
        Ok(Membership {
            client,
            shown_url,
            key: key.to_string(),
            node: node.to_string(),
            ttl,
        })
    }

    /// Beats, and returns the live members (this one included), by name.
    pub fn beat(&self) -> Result<Vec<String>, ClusterError> {
        let failed = |source| ClusterError::Redis {
            url: self.shown_url.clone(),
            source,
        };
        let mut conn = self
            .client
            .get_connection_with_timeout(self.ttl)
            .map_err(failed)?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BEAT)
            .arg(1)
            .arg(&self.key)
            .arg(&self.node)
            .arg(self.ttl.as_millis().max(1).to_string());
        cmd.query(&mut conn).map_err(failed)
    }
}

/// One member's partitions: what it holds, kept in step with its share.
pub struct PartitionKeeper {
    node: String,
    members: Membership,
    /// One lease per partition, `KEY_PREFIX:part:<p>`.
    leases: Vec<Lease>,
    held: BTreeMap<usize, Held>,
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
        let leases = (0..partitions)
            .map(|p| Lease::new(url, &format!("{prefix}:part:{p}"), node, ttl))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PartitionKeeper {
            node: node.to_string(),
            members: Membership::new(url, &format!("{prefix}:members"), node, ttl)?,
            leases,
            held: BTreeMap::new(),
        })
    }

    /// One round (run it every lease time / 3): returns the partitions this
    /// member holds now, each with its fencing token.
    pub fn tick(&mut self) -> Result<&BTreeMap<usize, Held>, ClusterError> {
        let live = self.members.beat()?;
        let mine = partitions::owned_by(&self.node, &live, self.leases.len());
        let held: Vec<(usize, Held)> = std::mem::take(&mut self.held).into_iter().collect();
        for (p, h) in held {
            let lease = &self.leases[p];
            if !mine.contains(&p) {
                lease.release(&h)?;
                continue;
            }
            if let Some(renewed) = lease.renew(&h)? {
                self.held.insert(p, renewed);
            }
        }
        for p in mine {
            if !self.held.contains_key(&p) {
                if let Some(h) = self.leases[p].try_acquire()? {
                    self.held.insert(p, h);
                }
            }
        }
        // A lease that ran out by this process's clock is not held, whatever
        // Redis said a moment ago.
        self.held.retain(|_, h| h.valid());
        Ok(&self.held)
    }
}
