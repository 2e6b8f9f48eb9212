//! What the cluster keeps in Redis: the key names and the entries of the
//! `up:<p>` and `down` streams.
//!
//! One home for both, because every node writes what another node
//! reads: a field renamed on one side only would be a silent loss.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The cluster's keys, all under `moobius:<service_id>:cluster:`.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(service_id: &str) -> Self {
        Keys {
            prefix: format!("moobius:{service_id}:cluster"),
        }
    }

    /// The prefix itself (the partition keeper adds `:part:<p>` and
    /// `:nodes` to it).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The gateway's lease.
    pub fn gateway(&self) -> String {
        format!("{}:gateway", self.prefix)
    }

    /// Partition `p`'s lease.
    pub fn partition(&self, p: usize) -> String {
        format!("{}:part:{p}", self.prefix)
    }

    /// The live nodes (a sorted set of heartbeats).
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Upward events of partition `p`'s channels.
    pub fn up(&self, p: usize) -> String {
        format!("{}:up:{p}", self.prefix)
    }

    /// Downward frames, from every node to the gateway.
    pub fn down(&self) -> String {
        format!("{}:down", self.prefix)
    }

    /// The channels the service serves (a set), so that a new owner of a
    /// partition knows which channels to check in.
    pub fn channels(&self) -> String {
        format!("{}:channels", self.prefix)
    }

    /// Relayed platform calls waiting for the gateway (a list).
    pub fn calls(&self) -> String {
        format!("{}:calls", self.prefix)
    }

    /// Where the answer to relayed call `id` goes (a list, expiring).
    pub fn answer(&self, id: &str) -> String {
        format!("{}:answer:{id}", self.prefix)
    }

    /// The lock around creating agents (a lease).
    pub fn agents(&self) -> String {
        format!("{}:agents", self.prefix)
    }

    /// The number of the last entry writer `writer` appended (see
    /// `append.rs`), so that a retried batch appends nothing twice.
    pub fn appended(&self, writer: &str) -> String {
        format!("{}:appended:{writer}", self.prefix)
    }

    /// Per-partition takeovers, counted (a hash: partition -> count).
    pub fn takeovers(&self) -> String {
        format!("{}:takeovers", self.prefix)
    }

    /// A deploy's bundle, stored once under its SHA-256 (a string).
    pub fn bundle(&self, sha: &str) -> String {
        format!("{}:bundle:{sha}", self.prefix)
    }

    /// Deploy `id`'s record (a hash; its `state` changes by compare-and-set).
    pub fn deploy(&self, id: &str) -> String {
        format!("{}:deploy:{id}", self.prefix)
    }

    /// Deploy `id`'s votes (a hash: node -> `ready` or `veto <reason>`).
    pub fn deploy_votes(&self, id: &str) -> String {
        format!("{}:deploy:{id}:votes", self.prefix)
    }

    /// When each node swapped to deploy `id` (a hash: node -> ms, by
    /// Redis's clock), to measure first swap to last swap.
    pub fn deploy_swaps(&self, id: &str) -> String {
        format!("{}:deploy:{id}:swaps", self.prefix)
    }

    /// Deploy `id`'s handler counts (a hash: `canary <node>` or
    /// `baseline <node>` -> JSON counts since the canary started).
    pub fn deploy_stats(&self, id: &str) -> String {
        format!("{}:deploy:{id}:stats", self.prefix)
    }

    /// The version every node runs (a hash: `id`, `sha`, `epoch`).
    pub fn deploy_current(&self) -> String {
        format!("{}:deploy:current", self.prefix)
    }

    /// The committed deploys, newest first (a list of ids, bounded).
    pub fn deploy_history(&self) -> String {
        format!("{}:deploy:history", self.prefix)
    }

    /// The deploy in progress, or the last one started (a string: its id).
    pub fn deploy_active(&self) -> String {
        format!("{}:deploy:active", self.prefix)
    }

    /// Every deploy started, newest first (a list of ids, bounded): what
    /// `deploy list` shows and what pruning drops vetoed ones from.
    pub fn deploy_log(&self) -> String {
        format!("{}:deploy:log", self.prefix)
    }

    /// The version each node runs (a hash: node -> `id sha version`).
    pub fn deploy_running(&self) -> String {
        format!("{}:deploy:running", self.prefix)
    }
}

/// The consumer group of every `up:<p>` stream.
pub const WORKERS: &str = "workers";
/// The consumer group of the `down` stream.
pub const GATEWAY: &str = "gateway";
/// Entries a stream keeps at most (approximately, `XADD MAXLEN ~`): a
/// bound on Redis's memory. An owner that falls this far behind loses the
/// oldest events, which the design review accepted over unbounded growth.
pub const STREAM_MAXLEN: usize = 100_000;

/// The partition of a channel: the same stable hash as the script threads'
/// (`protocol::ids::shard_of`), modulo the partitions.
pub fn partition_of(channel_id: &str, partitions: usize) -> usize {
    crate::protocol::ids::shard_of(channel_id, partitions)
}

/// One entry of an `up:<p>` stream: what the gateway passes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum UpEntry {
    /// A platform frame, in the wire's shape (`protocol::reencode`).
    Frame { frame: Value },
    /// A `message_up` frame with its recipients already expanded.
    Message {
        frame: Value,
        recipients: Vec<String>,
    },
    /// A channel served for the first time: `on_channel_init`.
    Init { channel: String },
    /// A channel to re-sync: `on_channel_checkin`.
    Checkin { channel: String },
}

/// One entry of the `down` stream: a frame ready for the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownEntry {
    /// The frame's request id (also inside `text`): derived from the upward
    /// entry that caused it, so a handler run twice sends the same ids.
    pub request_id: String,
    /// The partition and the lease token the frame was made under, when it
    /// was made for a partition's event: the gateway drops a frame whose
    /// token is older than one it has seen for that partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<(usize, u64)>,
    /// Updates with the same key supersede each other (the link's queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalesce_key: Option<String>,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let up = UpEntry::Message {
            frame: serde_json::json!({"type": "message_up"}),
            recipients: vec!["u1".into()],
        };
        let text = serde_json::to_string(&up).unwrap();
        assert!(text.contains(r#""k":"message""#), "{text}");
        assert_eq!(serde_json::from_str::<UpEntry>(&text).unwrap(), up);
        let down = DownEntry {
            request_id: "3-0:1".into(),
            fence: Some((3, 7)),
            coalesce_key: None,
            text: "{}".into(),
        };
        let text = serde_json::to_string(&down).unwrap();
        assert_eq!(serde_json::from_str::<DownEntry>(&text).unwrap(), down);
    }

    #[test]
    fn a_channel_has_one_partition() {
        assert_eq!(partition_of("lobby", 64), partition_of("lobby", 64));
        assert!(partition_of("lobby", 64) < 64);
    }
}
