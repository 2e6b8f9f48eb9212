//! The `down` stream: frames from every node to the gateway.
//!
//! A node's outbox prepares frames as a lone host's does (group ids,
//! uploads, encoding) and appends them here instead of writing to a socket
//! ([`DownWriter`], batched: one append per burst, each frame numbered
//! before its first try so that a retry appends it once, `append.rs`). The gateway
//! reads the stream through its consumer group ([`DownReader`]), drops
//! what it must not send (a frame made under a partition token older than
//! one it has seen, a request id it has sent recently), hands the rest to
//! the link, and acknowledges each entry once the platform acknowledged its
//! frame. A new gateway first claims what the old one read and did not
//! acknowledge; the platform ignores the repeats among those.

use super::append::OnceAppender;
use super::conn::RedisConn;
use super::streams::PartitionStream;
use super::wire::{DownEntry, Keys, GATEWAY};
use super::ClusterError;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One item for the appender thread, in the outbox's order.
enum Item {
    Frame(String),
    /// Runs once every frame before it was appended.
    After(Box<dyn FnOnce() + Send>),
}

/// A node's appender: a thread of its own, fed in order. It appends
/// whatever has collected in one batch (exactly once, `append.rs`), then runs the
/// actions that waited for those frames (the acknowledgements of the
/// events that made them), retrying while Redis is away, so nothing is
/// acknowledged before its frames are in the stream.
#[derive(Clone)]
pub struct DownWriter {
    tx: tokio::sync::mpsc::Sender<Item>,
}

/// Items taken at once.
pub const BATCH: usize = 512;
/// Items waiting for the thread, at most: the outbox waits beyond that
/// (backpressure all the way to the handlers, as with a slow platform).
const QUEUE: usize = 4096;

impl DownWriter {
    pub fn spawn(
        url: &crate::config::Secret,
        keys: &Keys,
    ) -> Result<(DownWriter, std::thread::JoinHandle<()>), ClusterError> {
        let appender = OnceAppender::open(url, keys)?;
        let key = keys.down();
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let handle = std::thread::Builder::new()
            .name("cluster-down".into())
            .spawn(move || run_writer(appender, key, rx))
            .map_err(|e| {
                ClusterError::Unexpected(format!("cannot start the downward thread: {e}"))
            })?;
        Ok((DownWriter { tx }, handle))
    }

    /// Queues one frame.
    pub async fn push(&self, entry: &DownEntry) {
        if let Ok(text) = serde_json::to_string(entry) {
            let _ = self.tx.send(Item::Frame(text)).await;
        }
    }

    /// Queues an action to run once every frame queued before it is in
    /// the stream.
    pub async fn after(&self, action: Box<dyn FnOnce() + Send>) {
        if let Err(refused) = self.tx.send(Item::After(action)).await {
            // The thread is gone (stopping): nothing will be appended.
            drop(refused);
        }
    }
}

fn run_writer(mut appender: OnceAppender, key: String, mut rx: tokio::sync::mpsc::Receiver<Item>) {
    while let Some(first) = rx.blocking_recv() {
        let mut items = vec![first];
        while items.len() < BATCH {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let mut frames = Vec::new();
        let mut actions = Vec::new();
        for item in items {
            match item {
                Item::Frame(text) => frames.push((key.clone(), text)),
                Item::After(action) => actions.push(action),
            }
        }
        appender.append_all(&frames, "frames for the gateway");
        actions.into_iter().for_each(|action| action());
    }
}

/// Request ids the gateway remembers having sent.
const REMEMBERED: usize = 100_000;
/// Entries read at once.
const READ_COUNT: usize = 512;

/// The gateway's reader of `down`.
pub struct DownReader {
    stream: PartitionStream,
    conn: Arc<RedisConn>,
    node: String,
    /// Highest token seen per partition.
    fences: HashMap<usize, u64>,
    sent: HashSet<String>,
    sent_order: VecDeque<String>,
    /// Request id -> stream entry, for frames handed to the link and not
    /// yet acknowledged by the platform; with when.
    waiting: Arc<Mutex<HashMap<String, (String, std::time::Instant)>>>,
}

/// What to do with one read entry.
pub enum Verdict {
    /// Send it; acknowledge the entry when the platform acknowledges it.
    Send(DownEntry),
    /// Drop it (acknowledged at once).
    Drop(Dropped),
}

/// Why an entry is dropped instead of sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Not an entry this version can read.
    Unreadable,
    /// Made by a partition owner that was since deposed (its lease taken
    /// over): the new owner's frames replace it.
    Deposed,
    /// Its frame was already sent (a repeat after a takeover).
    Repeat,
}

impl Dropped {
    /// Why, for the log.
    pub fn why(self) -> &'static str {
        match self {
            Dropped::Unreadable => "unreadable",
            Dropped::Deposed => "made under a partition lease that was since taken over",
            Dropped::Repeat => "already sent",
        }
    }

    /// The `outcome` of [`crate::metrics::CLUSTER_DOWN_FRAMES`] it counts as.
    pub fn outcome(self) -> &'static str {
        match self {
            Dropped::Repeat => "repeat",
            Dropped::Unreadable | Dropped::Deposed => "fenced",
        }
    }
}

impl DownReader {
    pub fn new(url: &crate::config::Secret, keys: &Keys, node: &str) -> Result<Self, ClusterError> {
        let conn = Arc::new(RedisConn::open(url.expose(), crate::timeouts::REDIS_CALL)?);
        let stream = PartitionStream::on(conn.clone(), &keys.down(), GATEWAY);
        stream.ensure_group()?;
        Ok(DownReader {
            stream,
            conn,
            node: node.to_string(),
            fences: HashMap::new(),
            sent: HashSet::new(),
            sent_order: VecDeque::new(),
            waiting: Arc::default(),
        })
    }

    /// What the previous gateway read and did not acknowledge, then new
    /// entries (`block` at most); each with its stream id.
    pub fn claim_pending(&self) -> Result<Vec<(String, String)>, ClusterError> {
        Ok(self
            .stream
            .claim_pending(&self.node)?
            .into_iter()
            .map(|e| (e.id, e.event))
            .collect())
    }

    /// What a deposed gateway read after its lease ended (see
    /// `PartitionStream::claim_stale`).
    pub fn claim_stale(&self, min_idle: Duration) -> Result<Vec<(String, String)>, ClusterError> {
        Ok(self
            .stream
            .claim_stale(&self.node, min_idle)?
            .into_iter()
            .map(|e| (e.id, e.event))
            .collect())
    }

    /// New entries, without waiting (see `Backoff::IDLE_POLL` in `src/retry.rs` for why the cluster polls).
    pub fn read(&self) -> Result<Vec<(String, String)>, ClusterError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GATEWAY)
            .arg(&self.node)
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("STREAMS")
            .arg(self.stream.key())
            .arg(">");
        let reply: Option<redis::streams::StreamReadReply> = match self.conn.query(&cmd) {
            Err(ClusterError::Redis { source, .. }) if source.code() == Some("NOGROUP") => {
                self.stream.ensure_group()?;
                return Ok(Vec::new());
            }
            other => other?,
        };
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|id| {
                let e = super::streams::entry(id.id, &id.map);
                (e.id, e.event)
            })
            .collect())
    }

    /// Decides about one entry (`id` its stream id).
    pub fn judge(&mut self, id: &str, text: &str) -> Verdict {
        let Ok(entry) = serde_json::from_str::<DownEntry>(text) else {
            return Verdict::Drop(Dropped::Unreadable);
        };
        if let Some((p, token)) = entry.fence {
            let highest = self.fences.entry(p).or_insert(token);
            if token < *highest {
                return Verdict::Drop(Dropped::Deposed);
            }
            *highest = token;
        }
        if !self.sent.insert(entry.request_id.clone()) {
            return Verdict::Drop(Dropped::Repeat);
        }
        self.sent_order.push_back(entry.request_id.clone());
        if self.sent_order.len() > REMEMBERED {
            if let Some(old) = self.sent_order.pop_front() {
                self.sent.remove(&old);
            }
        }
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                entry.request_id.clone(),
                (id.to_string(), std::time::Instant::now()),
            );
        Verdict::Send(entry)
    }

    /// Acknowledges `ids` (dropped entries) and every entry whose frame the
    /// platform acknowledged or that waited past [`crate::timeouts::DOWN_ACK_PATIENCE`].
    pub fn ack(&self, mut ids: Vec<String>, acked: Vec<String>) -> Result<(), ClusterError> {
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            for rid in acked {
                if let Some((id, _)) = waiting.remove(&rid) {
                    ids.push(id);
                }
            }
            waiting.retain(|_, (id, since)| {
                let keep = since.elapsed() < crate::timeouts::DOWN_ACK_PATIENCE;
                if !keep {
                    ids.push(id.clone());
                }
                keep
            });
        }
        self.stream.ack(&ids)
    }

    /// Entries handed to the link and not yet acknowledged by the platform.
    pub fn unacknowledged(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> DownReader {
        let conn =
            Arc::new(RedisConn::open("redis://127.0.0.1:1", Duration::from_millis(1)).unwrap());
        DownReader {
            stream: PartitionStream::on(conn.clone(), "k", GATEWAY),
            conn,
            node: "n".into(),
            fences: HashMap::new(),
            sent: HashSet::new(),
            sent_order: VecDeque::new(),
            waiting: Arc::default(),
        }
    }

    fn entry(rid: &str, fence: Option<(usize, u64)>) -> String {
        serde_json::to_string(&DownEntry {
            request_id: rid.into(),
            fence,
            coalesce_key: None,
            text: "{}".into(),
        })
        .unwrap()
    }

    #[test]
    fn a_repeat_and_a_deposed_owners_frame_are_dropped() {
        let mut r = reader();
        assert!(matches!(
            r.judge("1-0", &entry("a", Some((3, 5)))),
            Verdict::Send(_)
        ));
        assert!(matches!(
            r.judge("2-0", &entry("a", Some((3, 5)))),
            Verdict::Drop(Dropped::Repeat)
        ));
        assert!(matches!(
            r.judge("3-0", &entry("b", Some((3, 6)))),
            Verdict::Send(_)
        ));
        // The owner with token 5 was deposed by 6: its late frames go.
        assert!(matches!(
            r.judge("4-0", &entry("c", Some((3, 5)))),
            Verdict::Drop(Dropped::Deposed)
        ));
        // Other partitions and frames without a partition are not affected.
        assert!(matches!(
            r.judge("5-0", &entry("d", Some((4, 1)))),
            Verdict::Send(_)
        ));
        assert!(matches!(
            r.judge("6-0", &entry("e", None)),
            Verdict::Send(_)
        ));
        assert_eq!(r.unacknowledged(), 4);
    }
}
