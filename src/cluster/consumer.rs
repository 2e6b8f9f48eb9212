//! A node's worker side: reads the `up:<p>` streams of the partitions it
//! owns and hands each event to the host, in stream order.
//!
//! On taking a partition over it first claims what the previous owner read
//! and did not acknowledge (`XAUTOCLAIM`), tells the host which channels it
//! takes over (the host checks them in, so `this` is rebuilt from the
//! member table), and hands on the claimed entries before any new one: a
//! channel's events keep their order across a takeover. Entries are
//! acknowledged (`XACK`) when the host says they are done: handled, and
//! their frames appended to `down`.

use super::conn::RedisConn;
use super::roles::Fences;
use super::streams::{Entry, PartitionStream};
use super::wire::{partition_of, Keys, UpEntry, WORKERS};
use super::ClusterError;
use crate::retry::Backoff;
use redis::streams::StreamReadReply;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

/// Entries read at once, over all owned partitions.
const READ_COUNT: usize = 512;

/// One event for the host.
#[derive(Debug)]
pub struct Delivery {
    pub partition: usize,
    /// The partition's lease token it was read under.
    pub token: u64,
    /// Shared by everything handed on since this node last took the
    /// partition: see [`Gate`].
    pub gate: Gate,
    /// The stream entry's id (the cause of the frames it leads to).
    pub id: String,
    pub entry: UpEntry,
}

/// Closed by the host when it found the partition's lease no longer valid
/// (and so dropped an event rather than handle it). Every later event
/// handed on under the same gate is dropped too, so none is handled out of
/// order; the consumer then takes the partition afresh, under a new gate:
/// it claims what was dropped (still pending for it) and hands it on again,
/// after check-ins. Without this, an event dropped while a renewal was late
/// stayed pending for this node for ever.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    pub fn close(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A partition this node holds now: check its channels in before the
/// events that follow.
#[derive(Debug)]
pub struct Takeover {
    pub partition: usize,
    pub token: u64,
    pub gate: Gate,
    pub channels: Vec<String>,
}

/// Where the consumer hands things to.
pub trait Host: Send {
    fn took_over(&mut self, takeover: Takeover, done: &Done);
    /// `done` is how to report the entry done (see [`Done::report`]).
    fn deliver(&mut self, delivery: Delivery, done: &Done);
}

/// Entries handed on and not yet acknowledged, per partition (a partition
/// being handed over is released once its count is 0).
#[derive(Default)]
pub struct InFlight {
    counts: Mutex<HashMap<usize, usize>>,
}

impl InFlight {
    pub fn drained(&self, p: usize) -> bool {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&p).copied().unwrap_or(0) == 0
    }

    fn add(&self, p: usize) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(p).or_default() += 1;
    }

    fn done(&self, p: usize) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = counts.get_mut(&p) {
            *c = c.saturating_sub(1);
        }
    }
}

/// How the host reports an entry done: `ack` true when it was handled
/// (false when it was dropped because the partition is no longer ours, so
/// that the next owner gets it).
#[derive(Clone)]
pub struct Done {
    tx: mpsc::Sender<(usize, String, bool)>,
}

impl Done {
    pub fn report(&self, partition: usize, id: String, ack: bool) {
        let _ = self.tx.send((partition, id, ack));
    }
}

pub struct ConsumerSetup {
    pub url: crate::config::Secret,
    pub keys: Keys,
    pub node: String,
    pub partitions: usize,
    pub fences: Arc<Fences>,
    pub in_flight: Arc<InFlight>,
    pub stop: Arc<AtomicBool>,
    /// Entries another consumer read this long ago and never acknowledged
    /// are claimed (see [`PartitionStream::claim_stale`]); twice the lease.
    pub stale_after: Duration,
}

/// Starts the consumer thread.
pub fn spawn(
    setup: ConsumerSetup,
    host: Box<dyn Host>,
) -> Result<std::thread::JoinHandle<()>, ClusterError> {
    let conn = Arc::new(RedisConn::open(
        setup.url.expose(),
        crate::timeouts::REDIS_CALL,
    )?);
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("cluster-consumer".into())
        .spawn(move || {
            let consumer = Consumer {
                setup,
                conn,
                host,
                acks: rx,
                done: Done { tx: tx.clone() },
                owned: BTreeMap::new(),
                last_stale_check: std::time::Instant::now(),
                idle: Backoff::IDLE_POLL,
            };
            consumer.run()
        })
        .map_err(|e| ClusterError::Unexpected(format!("cannot start the consumer thread: {e}")))?;
    Ok(handle)
}

struct Consumer {
    setup: ConsumerSetup,
    conn: Arc<RedisConn>,
    host: Box<dyn Host>,
    acks: mpsc::Receiver<(usize, String, bool)>,
    done: Done,
    /// Partitions being read, with their tokens and gates.
    owned: BTreeMap<usize, (u64, Gate)>,
    last_stale_check: std::time::Instant,
    idle: Backoff,
}

impl Consumer {
    fn run(mut self) {
        let mut failing = false;
        let mut backoff = Backoff::CLUSTER_REDIS;
        while !self.setup.stop.load(Ordering::SeqCst) {
            match self.round() {
                Ok(()) => {
                    failing = false;
                    backoff.reset();
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cluster: cannot read the partitions' streams; retrying");
                    }
                    failing = true;
                    std::thread::sleep(backoff.next());
                }
            }
        }
        let _ = self.acknowledge();
    }

    /// Takes over newly owned partitions, reads, hands on, acknowledges.
    fn round(&mut self) -> Result<(), ClusterError> {
        let readable = self.setup.fences.readable();
        for (p, (_, gate)) in &self.owned {
            if gate.is_closed() && readable.contains_key(p) {
                tracing::info!(partition = p, "cluster: the partition's lease lapsed while its events waited; taking it afresh");
            }
        }
        self.owned.retain(|p, (t, gate)| {
            let keep = readable.get(p) == Some(t) && !gate.is_closed();
            if !keep {
                metrics::gauge!(crate::metrics::CLUSTER_LAG, "partition" => p.to_string()).set(0.0);
            }
            keep
        });
        let new: Vec<(usize, u64)> = readable
            .into_iter()
            .filter(|(p, _)| !self.owned.contains_key(p))
            .collect();
        let mut taken = Vec::with_capacity(new.len());
        let mut channels = 0;
        for (p, token) in new {
            let gate = Gate::default();
            self.owned.insert(p, (token, gate.clone()));
            match self.take_over(p, token, &gate) {
                Ok(n) => {
                    taken.push(p);
                    channels += n;
                }
                Err(e) => {
                    self.owned.remove(&p);
                    return Err(e);
                }
            }
        }
        if !taken.is_empty() {
            // One line for a round's takeovers (all 64 partitions at start).
            taken.sort_unstable();
            tracing::info!(
                partitions = %ranges(&taken),
                count = taken.len(),
                owned = self.owned.len(),
                channels,
                "cluster: took partitions over"
            );
        }
        self.acknowledge()?;
        let read = if self.owned.is_empty() {
            Vec::new()
        } else {
            self.read()?
        };
        if read.is_empty() {
            std::thread::sleep(self.idle.next());
        } else {
            self.idle.reset();
        }
        for (p, entry) in read {
            self.hand_on(p, entry);
        }
        self.claim_stale()?;
        self.acknowledge()
    }

    fn stream(&self, p: usize) -> PartitionStream {
        PartitionStream::on(self.conn.clone(), &self.setup.keys.up(p), WORKERS)
    }

    /// Takes partition `p` over; returns how many channels it holds.
    fn take_over(&mut self, p: usize, token: u64, gate: &Gate) -> Result<usize, ClusterError> {
        let stream = self.stream(p);
        stream.ensure_group()?;
        let claimed = stream.claim_pending(&self.setup.node)?;
        let all: Vec<String> = self
            .conn
            .query(redis::cmd("SMEMBERS").arg(self.setup.keys.channels()))?;
        let mut channels: Vec<String> = all
            .into_iter()
            .filter(|c| partition_of(c, self.setup.partitions) == p)
            .collect();
        channels.sort();
        let _: i64 = self.conn.query(
            redis::cmd("HINCRBY")
                .arg(self.setup.keys.takeovers())
                .arg(p)
                .arg(1),
        )?;
        metrics::counter!(crate::metrics::CLUSTER_TAKEOVERS).increment(1);
        tracing::debug!(
            partition = p,
            token,
            channels = channels.len(),
            claimed = claimed.len(),
            "cluster: took a partition over"
        );
        let held = channels.len();
        let takeover = Takeover {
            partition: p,
            token,
            gate: gate.clone(),
            channels,
        };
        self.host.took_over(takeover, &self.done);
        for entry in claimed {
            self.hand_on(p, entry);
        }
        Ok(held)
    }

    /// Now and then, what a deposed owner read after its lease ended (it
    /// checks its lease before each read, but a pause can fall between the
    /// check and the read). Rare, and the one case where a channel's
    /// events may be handled out of order: such an entry is handled when
    /// found, after the ones read since.
    fn claim_stale(&mut self) -> Result<(), ClusterError> {
        if self.last_stale_check.elapsed() < self.setup.stale_after / 2 {
            return Ok(());
        }
        self.last_stale_check = std::time::Instant::now();
        let owned: Vec<usize> = self.owned.keys().copied().collect();
        for p in &owned {
            // The lag metric, at the same pace: events not yet handled.
            let (lag, pending) =
                super::report::group_lag(&self.conn, &self.setup.keys.up(*p), WORKERS)?;
            metrics::gauge!(crate::metrics::CLUSTER_LAG, "partition" => p.to_string())
                .set((lag + pending) as f64);
        }
        for p in owned {
            let stale = self
                .stream(p)
                .claim_stale(&self.setup.node, self.setup.stale_after)?;
            if !stale.is_empty() {
                tracing::warn!(
                    partition = p,
                    entries = stale.len(),
                    "cluster: claimed entries a deposed owner read"
                );
            }
            for entry in stale {
                self.hand_on(p, entry);
            }
        }
        Ok(())
    }

    /// New entries of every owned partition, in each stream's order.
    fn read(&self) -> Result<Vec<(usize, Entry)>, ClusterError> {
        let keys: Vec<String> = self.owned.keys().map(|p| self.setup.keys.up(*p)).collect();
        let by_key: HashMap<&str, usize> = keys
            .iter()
            .zip(self.owned.keys())
            .map(|(k, p)| (k.as_str(), *p))
            .collect();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(WORKERS)
            .arg(&self.setup.node)
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("STREAMS")
            .arg(&keys);
        for _ in &keys {
            cmd.arg(">");
        }
        // No BLOCK: see `Backoff::IDLE_POLL` in `src/retry.rs` for why the cluster polls.
        let reply: Option<StreamReadReply> = match self.conn.query(&cmd) {
            Ok(r) => r,
            // A stream or its group vanished (Redis restarted): make them
            // again on the next round.
            Err(ClusterError::Redis { source, .. }) if source.code() == Some("NOGROUP") => {
                for p in self.owned.keys() {
                    self.stream(*p).ensure_group()?;
                }
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for key in reply.into_iter().flat_map(|r| r.keys) {
            let Some(p) = by_key.get(key.key.as_str()).copied() else {
                continue;
            };
            out.extend(
                key.ids
                    .into_iter()
                    .map(|id| (p, super::streams::entry(id.id, &id.map))),
            );
        }
        Ok(out)
    }

    fn hand_on(&mut self, p: usize, entry: Entry) {
        let Some((token, gate)) = self.owned.get(&p).cloned() else {
            return;
        };
        match serde_json::from_str::<UpEntry>(&entry.event) {
            Ok(up) => {
                self.setup.in_flight.add(p);
                let delivery = Delivery {
                    partition: p,
                    token,
                    gate,
                    id: entry.id,
                    entry: up,
                };
                self.host.deliver(delivery, &self.done);
            }
            Err(e) => {
                tracing::warn!(partition = p, id = %entry.id, error = %e, "cluster: an unreadable upward entry was dropped");
                let _ = self.stream(p).ack(&[entry.id]);
            }
        }
    }

    /// Acknowledges what the host reported done.
    fn acknowledge(&mut self) -> Result<(), ClusterError> {
        let mut by_partition: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        while let Ok((p, id, ack)) = self.acks.try_recv() {
            self.setup.in_flight.done(p);
            if ack {
                by_partition.entry(p).or_default().push(id);
            }
        }
        for (p, ids) in by_partition {
            self.stream(p).ack(&ids)?;
        }
        Ok(())
    }
}

/// Partition numbers as ranges, for one log line: `0-63`, `3, 7-9`.
fn ranges(sorted: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn partitions_show_as_ranges() {
        assert_eq!(super::ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(super::ranges(&[3, 7, 8, 9, 12]), "3, 7-9, 12");
        assert_eq!(super::ranges(&[]), "");
    }
}
