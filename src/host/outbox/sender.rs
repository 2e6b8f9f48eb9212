//! The way into the outbox, from the script threads (which wait at most as
//! long as their handler has left) and from tasks: a bounded channel, so a
//! platform that reads slowly slows the handlers down instead of growing a
//! queue.

use crate::host::outbox::Downward;
use tokio::sync::mpsc;

/// Items waiting for the outbox, at most. When the platform reads slower
/// than scripts send, the link's window fills, the outbox waits on the link,
/// this channel fills, and the script thread waits here: backpressure all
/// the way back instead of a queue that grows.
pub const OUTBOX_CAPACITY: usize = 1_024;

/// The way into the outbox (cloning it is cheap).
#[derive(Clone)]
pub struct OutboxSender {
    tx: mpsc::Sender<Downward>,
}

/// Why an item did not enter the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboxRefused {
    #[error("the host is shutting down")]
    Closed,
    #[error("no room in the outgoing queue within the time allowed")]
    Full,
}

impl OutboxSender {
    pub fn channel() -> (OutboxSender, mpsc::Receiver<Downward>) {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        (OutboxSender { tx }, rx)
    }

    /// From a thread outside the runtime (the script thread): waits at most
    /// `limit` for room.
    pub fn send_within(
        &self,
        rt: &tokio::runtime::Handle,
        item: Downward,
        limit: std::time::Duration,
    ) -> Result<(), OutboxRefused> {
        match self.tx.try_send(item) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(OutboxRefused::Closed),
            Err(mpsc::error::TrySendError::Full(item)) => {
                // The timer must be created inside the runtime.
                match rt.block_on(async { tokio::time::timeout(limit, self.tx.send(item)).await }) {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(OutboxRefused::Closed),
                    Err(_) => Err(OutboxRefused::Full),
                }
            }
        }
    }

    /// From a thread outside the runtime, waiting as long as it takes (for
    /// barriers that must not be lost).
    pub fn send_blocking(&self, item: Downward) -> Result<(), OutboxRefused> {
        self.tx
            .blocking_send(item)
            .map_err(|_| OutboxRefused::Closed)
    }

    /// From a task.
    pub async fn send(&self, item: Downward) -> Result<(), OutboxRefused> {
        self.tx.send(item).await.map_err(|_| OutboxRefused::Closed)
    }
}
