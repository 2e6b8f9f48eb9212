//! What a cluster looks like from Redis, for `moobius-host cluster status`
//! and for tests: the live nodes, who holds the gateway, and each
//! partition's owner, token, lag and takeovers.
//!
//! Read-only, and read from Redis alone: it works from any machine that
//! reaches the cluster's Redis, whether or not a node runs there.

use super::conn::RedisConn;
use super::deploy::machine::Deploys;
use super::wire::{Keys, GATEWAY, WORKERS};
use super::ClusterError;
use redis::streams::StreamInfoGroupsReply;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub nodes: Vec<LiveNode>,
    pub gateway: Option<Holder>,
    /// The deploy in progress, or the last one.
    pub deploy: Option<DeployShown>,
    pub partitions: Vec<Partition>,
    /// Frames waiting for the gateway: not yet read, and read but not yet
    /// acknowledged by the platform.
    pub down_lag: usize,
    pub down_pending: usize,
    /// Platform calls nodes relayed that the gateway has not taken yet.
    pub calls_waiting: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LiveNode {
    pub node: String,
    /// How long ago it last beat (ms, by Redis's clock).
    pub last_beat_ms: u64,
    /// The deploy whose version it runs (empty: the files it started
    /// with), and that version.
    pub deploy: String,
    pub version: String,
}

/// The last deploy started, as its record stands.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeployShown {
    pub id: String,
    pub version: String,
    pub state: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Holder {
    pub node: String,
    pub token: u64,
    /// How long the lease lasts without a renewal (ms).
    pub expires_in_ms: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Partition {
    pub partition: usize,
    pub owner: Option<Holder>,
    /// Events not yet read by the owner.
    pub lag: usize,
    /// Events read and not yet handled.
    pub pending: usize,
    /// Times a node took it over.
    pub takeovers: u64,
}

impl Report {
    /// Partitions with no owner.
    pub fn unowned(&self) -> usize {
        self.partitions.iter().filter(|p| p.owner.is_none()).count()
    }

    /// Nothing waiting anywhere: no event unread or unhandled, no frame
    /// unsent, no relayed call untaken.
    pub fn idle(&self) -> bool {
        self.partitions.iter().all(|p| p.lag == 0 && p.pending == 0)
            && self.down_lag == 0
            && self.down_pending == 0
            && self.calls_waiting == 0
    }

    /// Partitions node `node` owns.
    pub fn owned_by(&self, node: &str) -> usize {
        let owns = |p: &&Partition| p.owner.as_ref().is_some_and(|o| o.node == node);
        self.partitions.iter().filter(owns).count()
    }
}

/// Reads the report of `service_id`'s cluster.
pub fn read(url: &str, service_id: &str, partitions: usize) -> Result<Report, ClusterError> {
    let conn = RedisConn::open(url, crate::timeouts::REDIS_CALL)?;
    let keys = Keys::new(service_id);
    let (secs, micros): (u64, u64) = conn.query(&redis::cmd("TIME"))?;
    let now_ms = secs * 1000 + micros / 1000;
    let beats: Vec<(String, f64)> = conn.query(
        redis::cmd("ZRANGE")
            .arg(keys.nodes())
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES"),
    )?;
    let deploys = Deploys::new(Arc::new(conn), keys.clone());
    let running = deploys.running()?;
    let nodes = beats
        .into_iter()
        .map(|(node, at)| {
            let (deploy, _, version) = running.get(&node).cloned().unwrap_or_default();
            LiveNode {
                node,
                last_beat_ms: now_ms.saturating_sub(at as u64),
                deploy,
                version,
            }
        })
        .collect();
    let deploy = match deploys.active()? {
        Some(id) => deploys.record(&id)?.map(|r| DeployShown {
            id: r.id,
            version: r.version,
            state: r.state.name().to_string(),
            detail: r.state.detail(),
        }),
        None => None,
    };
    let conn = RedisConn::open(url, crate::timeouts::REDIS_CALL)?;
    let takeovers: HashMap<usize, u64> = conn.query(redis::cmd("HGETALL").arg(keys.takeovers()))?;
    let mut parts = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let (lag, pending) = group_lag(&conn, &keys.up(p), WORKERS)?;
        parts.push(Partition {
            partition: p,
            owner: holder(&conn, &keys.partition(p))?,
            lag,
            pending,
            takeovers: takeovers.get(&p).copied().unwrap_or(0),
        });
    }
    let (down_lag, down_pending) = group_lag(&conn, &keys.down(), GATEWAY)?;
    let calls_waiting: usize = conn.query(redis::cmd("LLEN").arg(keys.calls()))?;
    Ok(Report {
        nodes,
        gateway: holder(&conn, &keys.gateway())?,
        deploy,
        partitions: parts,
        down_lag,
        down_pending,
        calls_waiting,
    })
}

fn holder(conn: &RedisConn, key: &str) -> Result<Option<Holder>, ClusterError> {
    let mut pipe = redis::pipe();
    pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
    let (value, ttl): (Option<String>, i64) = conn.pipe(&pipe)?;
    Ok(value.and_then(|v| {
        let (node, token) = v.rsplit_once(' ')?;
        Some(Holder {
            node: node.to_string(),
            token: token.parse().ok()?,
            expires_in_ms: u64::try_from(ttl).unwrap_or(0),
        })
    }))
}

/// A stream's (lag, pending) for `group`; zeros when it does not exist yet.
pub(super) fn group_lag(
    conn: &RedisConn,
    key: &str,
    group: &str,
) -> Result<(usize, usize), ClusterError> {
    let reply: Result<StreamInfoGroupsReply, _> =
        conn.query(redis::cmd("XINFO").arg("GROUPS").arg(key));
    let groups = match reply {
        Ok(g) => g,
        Err(ClusterError::Redis { source, .. }) if source.code() == Some("ERR") => {
            return Ok((0, 0))
        }
        Err(e) => return Err(e),
    };
    Ok(groups
        .groups
        .into_iter()
        .find(|g| g.name == group)
        .map_or((0, 0), |g| (g.lag.unwrap_or(0), g.pending)))
}
