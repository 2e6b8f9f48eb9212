//! Where the outbox's prepared frames go: a lone host's link, or a cluster
//! node's `down` stream (the gateway sends them). The outbox does the
//! same work either way; only the last step differs.

use crate::host::outbox::Barrier;
use crate::platform::{OutFrame, WsLink};

/// Where prepared frames go: the platform connection, or (a cluster
/// node) the `down` stream, for the gateway to send.
pub enum FrameSink {
    Link(WsLink),
    Cluster(crate::cluster::down::DownWriter),
}

impl FrameSink {
    pub(in crate::host) async fn send(&self, frame: OutFrame, fence: Option<(usize, u64)>) {
        match self {
            FrameSink::Link(link) => link.send(frame).await,
            FrameSink::Cluster(down) => {
                let entry = crate::cluster::wire::DownEntry {
                    request_id: frame.request_id,
                    fence,
                    coalesce_key: frame.coalesce_key,
                    text: frame.text,
                };
                down.push(&entry).await;
            }
        }
    }

    /// Runs the barrier once every frame before it was handed on: at once
    /// for the link, after the append for the `down` stream.
    pub(in crate::host) async fn barrier(&self, barrier: Barrier) {
        match self {
            FrameSink::Link(_) => barrier.reached(),
            FrameSink::Cluster(down) => down.after(barrier.into_action()).await,
        }
    }
}
