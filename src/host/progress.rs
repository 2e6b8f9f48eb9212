//! How far the host got, for drivers that must know when it is idle.
//!
//! Scenario tests act as users and then look at what users see; a step may
//! only look once the service has *settled*: every upward event caused so far
//! was handled by the script, and every downward frame those handlers made
//! was applied by the platform. Sleeping would be slow and flaky, so the host
//! counts instead, along its one-way pipeline:
//!
//! - the script thread, after each event (an upward one, or its own: channel
//!   init, start, reload), queues an outbox barrier behind the downward items
//!   the handler made; the outbox runs it (counting `upward_handled` or
//!   `other_handled`) after it handed those items to the link
//!   (`downward_sent`), so the counts move in order. The outbox knows
//!   nothing of progress: a barrier is a flush point, as shutdown uses;
//! - the dispatcher counts the platform's acknowledgements (`copy` frames) of
//!   downward frames (`downward_acked`); the platform acknowledges a frame
//!   after applying it.
//!
//! A driver that knows how many upward events the platform handed to the
//! service (the sandbox counts them) waits for
//! `upward_handled >= that && downward_acked >= downward_sent` (and, after
//! start or a reload, for `other_handled` to pass its known value). Counting is
//! off (no barriers) unless [`HostOptions::progress`](crate::host::HostOptions) is set.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The host's counters (see the module comment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressCounters {
    /// Upward events whose handler ran and whose downward items reached the link.
    pub upward_handled: u64,
    /// The host's own events handled the same way (before_channel_init,
    /// channel init, start, checkins, reloads).
    pub other_handled: u64,
    /// Downward frames handed to the link.
    pub downward_sent: u64,
    /// Downward frames the platform acknowledged.
    pub downward_acked: u64,
    /// Script requests started, and those whose callback ran (and whose
    /// downward items reached the link).
    pub requests_started: u64,
    pub requests_finished: u64,
}

impl ProgressCounters {
    /// True once `upward` upward events and `other` own events were handled
    /// and everything sent was applied.
    pub fn settled(&self, upward: u64, other: u64) -> bool {
        self.upward_handled >= upward
            && self.other_handled >= other
            && self.downward_acked >= self.downward_sent
            && self.requests_finished >= self.requests_started
    }
}

/// What kind of event was handled, for the counter it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Handled {
    /// A platform event (`upward_handled`).
    Upward,
    /// The host's own: lifecycle steps, reloads, timers (`other_handled`).
    Own,
    /// A request's callback (`requests_finished`).
    Response,
}

#[derive(Debug)]
struct Inner {
    counters: watch::Sender<ProgressCounters>,
}

/// Shared between the host and a driver; cheap to clone.
#[derive(Debug, Clone)]
pub struct HostProgress {
    inner: Arc<Inner>,
}

impl Default for HostProgress {
    fn default() -> Self {
        HostProgress {
            inner: Arc::new(Inner {
                counters: watch::channel(ProgressCounters::default()).0,
            }),
        }
    }
}

impl HostProgress {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn counters(&self) -> ProgressCounters {
        *self.inner.counters.borrow()
    }

    /// Waits until [`ProgressCounters::settled`] for `upward` events, at most
    /// `timeout`; returns the counters reached (check `settled` on them).
    pub async fn settle(&self, upward: u64, other: u64, timeout: Duration) -> ProgressCounters {
        let mut rx = self.inner.counters.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|c| c.settled(upward, other))).await;
        match waited {
            Ok(Ok(c)) => *c,
            _ => self.counters(),
        }
    }

    pub(super) fn handled(&self, kind: Handled) {
        self.inner.counters.send_modify(|c| match kind {
            Handled::Upward => c.upward_handled += 1,
            Handled::Own => c.other_handled += 1,
            Handled::Response => c.requests_finished += 1,
        });
    }

    pub(super) fn request_started(&self) {
        self.inner.counters.send_modify(|c| c.requests_started += 1);
    }

    pub(super) fn downward_sent(&self) {
        self.inner.counters.send_modify(|c| c.downward_sent += 1);
    }

    pub(super) fn downward_acked(&self) {
        self.inner.counters.send_modify(|c| c.downward_acked += 1);
    }
}
