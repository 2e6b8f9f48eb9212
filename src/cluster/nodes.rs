//! The live nodes: [`LiveNodes`] is a heartbeat in a Redis sorted set
//! (score: the time of the last beat, by Redis's clock, so nodes' clocks
//! need not agree); a node that missed beats for a lease time is no longer
//! live. Who holds which partition is `takeover.rs`'s.

use super::conn::RedisConn;
use super::ClusterError;
use std::sync::Arc;
use std::time::Duration;

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
