//! A partition's stream of upward events, read through a consumer group:
//! Redis Streams do the delivery, the pending-entry list and the claiming.
//!
//! The gateway appends each event to its partition's stream (`XADD`); the
//! partition's owner reads new entries as its consumer (`XREADGROUP`) and
//! acknowledges each once handled (`XACK`). An entry read but not
//! acknowledged stays pending: the next owner first claims every pending
//! entry (`XAUTOCLAIM`, in id order) and handles those, then new ones, so a
//! channel's events keep their order across a takeover and none is lost
//! (some may be handled twice: delivery is at least once).

use super::conn::RedisConn;
use super::ClusterError;
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use std::time::Duration;

/// One entry: its stream id and the event (JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub event: String,
}

/// The field of an entry that holds the event.
pub(super) const EVENT: &str = "event";

pub struct PartitionStream {
    conn: std::sync::Arc<RedisConn>,
    key: String,
    group: String,
}

impl PartitionStream {
    /// The stream `key` read by consumer group `group`. Nothing is sent yet.
    pub fn new(url: &str, key: &str, group: &str) -> Result<Self, ClusterError> {
        let conn = std::sync::Arc::new(RedisConn::open(url, crate::timeouts::REDIS_CALL)?);
        Ok(PartitionStream::on(conn, key, group))
    }

    /// The same, over a shared connection.
    pub fn on(conn: std::sync::Arc<RedisConn>, key: &str, group: &str) -> Self {
        PartitionStream {
            conn,
            key: key.to_string(),
            group: group.to_string(),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, ClusterError> {
        self.conn.query(cmd)
    }

    /// Creates the stream and its group if they do not exist yet.
    pub fn ensure_group(&self) -> Result<(), ClusterError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(&self.key)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM");
        match self.query::<()>(&cmd) {
            Err(ClusterError::Redis { source, .. }) if source.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Appends an event; returns its id.
    pub fn append(&self, event: &str) -> Result<String, ClusterError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.key).arg("*").arg(EVENT).arg(event);
        self.query(&cmd)
    }

    /// Up to `count` entries never delivered to any consumer, for `consumer`.
    pub fn read_new(&self, consumer: &str, count: usize) -> Result<Vec<Entry>, ClusterError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">");
        let reply: Option<StreamReadReply> = self.query(&cmd)?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|id| entry(id.id, &id.map))
            .collect())
    }

    /// Takes every entry pending for any consumer (an owner that is gone)
    /// for `consumer`, in id order.
    pub fn claim_pending(&self, consumer: &str) -> Result<Vec<Entry>, ClusterError> {
        let mut out = Vec::new();
        let mut start = "0-0".to_string();
        loop {
            let mut cmd = redis::cmd("XAUTOCLAIM");
            cmd.arg(&self.key)
                .arg(&self.group)
                .arg(consumer)
                .arg(0)
                .arg(&start)
                .arg("COUNT")
                .arg(100);
            let reply: StreamAutoClaimReply = self.query(&cmd)?;
            out.extend(reply.claimed.into_iter().map(|id| entry(id.id, &id.map)));
            if reply.next_stream_id == "0-0" {
                return Ok(out);
            }
            start = reply.next_stream_id;
        }
    }

    /// Takes the entries another consumer read more than `min_idle` ago and
    /// never acknowledged: what a node that lost its role (paused past its
    /// lease) read just before it noticed. Entries pending for `consumer`
    /// itself are left alone (they are on their way).
    pub fn claim_stale(
        &self,
        consumer: &str,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, ClusterError> {
        let idle = min_idle.as_millis().max(1) as u64;
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&self.key)
            .arg(&self.group)
            .arg("IDLE")
            .arg(idle)
            .arg("-")
            .arg("+")
            .arg(1000);
        let pending: redis::streams::StreamPendingCountReply = self.query(&cmd)?;
        let ids: Vec<String> = pending
            .ids
            .into_iter()
            .filter(|p| p.consumer != consumer)
            .map(|p| p.id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(&self.key)
            .arg(&self.group)
            .arg(consumer)
            .arg(idle)
            .arg(&ids);
        let claimed: redis::streams::StreamClaimReply = self.query(&cmd)?;
        Ok(claimed
            .ids
            .into_iter()
            .map(|id| entry(id.id, &id.map))
            .collect())
    }

    /// Marks entries handled.
    pub fn ack(&self, ids: &[String]) -> Result<(), ClusterError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XACK");
        cmd.arg(&self.key).arg(&self.group).arg(ids);
        self.query::<i64>(&cmd).map(|_| ())
    }
}

pub(super) fn entry(id: String, map: &std::collections::HashMap<String, redis::Value>) -> Entry {
    let event = map
        .get(EVENT)
        .and_then(|v| redis::from_redis_value::<String>(v.clone()).ok())
        .unwrap_or_default();
    Entry { id, event }
}
