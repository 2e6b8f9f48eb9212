//! The gateway's appender of upward events: one thread, so each partition's
//! stream gets its events in the order the platform sent them.
//!
//! The dispatcher hands events over without waiting; the thread appends
//! whatever has collected in one batch, retrying while Redis is away or
//! refuses writes (events queue in memory meanwhile, as they would in a
//! lone host's script queue). Each event is numbered when the thread
//! takes it, before its first try, so a retried batch appends none of it
//! twice (`append.rs`).

use super::append::OnceAppender;
use super::wire::{Keys, UpEntry};
use super::ClusterError;
use std::sync::mpsc;

const BATCH: usize = 512;

/// The way in (cloning it is cheap). Dropping every clone stops the thread
/// once it appended what it had.
#[derive(Clone)]
pub struct UpWriter {
    tx: mpsc::Sender<(usize, String)>,
    partitions: usize,
}

impl UpWriter {
    pub fn spawn(
        url: &crate::config::Secret,
        keys: Keys,
        partitions: usize,
    ) -> Result<(UpWriter, std::thread::JoinHandle<()>), ClusterError> {
        let appender = OnceAppender::open(url, &keys)?;
        let (tx, rx) = mpsc::channel::<(usize, String)>();
        let handle = std::thread::Builder::new()
            .name("cluster-up".into())
            .spawn(move || run(appender, keys, rx))
            .map_err(|e| {
                ClusterError::Unexpected(format!("cannot start the upward thread: {e}"))
            })?;
        Ok((UpWriter { tx, partitions }, handle))
    }

    /// Appends `entry` to the stream of `channel_id`'s partition (the
    /// partition 0 for an event of no channel).
    pub fn append(&self, channel_id: Option<&str>, entry: &UpEntry) {
        let p = channel_id.map_or(0, |c| super::wire::partition_of(c, self.partitions));
        match serde_json::to_string(entry) {
            Ok(text) => {
                let _ = self.tx.send((p, text));
            }
            Err(e) => tracing::warn!(error = %e, "cluster: an upward event could not be written"),
        }
    }
}

fn run(mut appender: OnceAppender, keys: Keys, rx: mpsc::Receiver<(usize, String)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let entries: Vec<(String, String)> = batch
            .into_iter()
            .map(|(p, text)| (keys.up(p), text))
            .collect();
        appender.append_all(&entries, "upward events");
        metrics::counter!(crate::metrics::CLUSTER_UP_EVENTS).increment(entries.len() as u64);
    }
}
