//! What the script threads share, and where each one stands among them.
//!
//! These types have a file of their own because the bridge, the callbacks
//! and the reload all need them while the thread's loop
//! (`script_thread.rs`) needs all of those: kept in the loop's file, they
//! made the loop and everything it calls import each other.

use crate::host::bridge::agents::AgentBook;
use crate::host::status::{ScriptStatus, TimerStatus};
use std::sync::{Mutex, PoisonError};
use tokio::sync::watch;

/// Timers listed in the status (the count covers the rest).
pub const STATUS_TIMERS: usize = 20;

/// Which thread this is, among how many.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub index: usize,
    pub threads: usize,
}

impl Place {
    /// Thread 0 speaks for all: the status's version, reload outcomes.
    pub fn leads(&self) -> bool {
        self.index == 0
    }

    /// True when `channel_id`'s events are handled on this thread.
    pub fn owns(&self, channel_id: &str) -> bool {
        self.threads <= 1 || crate::protocol::ids::shard_of(channel_id, self.threads) == self.index
    }
}

/// What every script thread of a host shares.
pub struct Shared {
    /// The service's agents by name: `create_agent` holds the lock for the
    /// whole call, so an agent is created once for every thread.
    pub agents: Mutex<AgentBook>,
    pub board: TimerBoard,
    pub status: watch::Sender<ScriptStatus>,
    /// In a cluster, taken around `create_agent` (see `ExecutorDeps`).
    pub agent_lock: Option<crate::cluster::lease::Lease>,
    /// Each thread's version and handler counters (deploys).
    pub versions: std::sync::Arc<crate::host::reload::tags::ThreadVersions>,
}

/// Every thread's first pending timers and count, merged for the status.
pub struct TimerBoard {
    slots: Mutex<Vec<(Vec<TimerStatus>, usize)>>,
}

impl TimerBoard {
    pub fn new(threads: usize) -> Self {
        TimerBoard {
            slots: Mutex::new(vec![(Vec::new(), 0); threads]),
        }
    }

    /// Replaces thread `index`'s part; returns every thread's first timers
    /// (by id) and their total count.
    pub fn update(
        &self,
        index: usize,
        timers: Vec<TimerStatus>,
        pending: usize,
    ) -> (Vec<TimerStatus>, usize) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(index) {
            *slot = (timers, pending);
        }
        let mut all: Vec<TimerStatus> = slots.iter().flat_map(|s| s.0.iter().cloned()).collect();
        all.sort_by_key(|t| t.id);
        all.truncate(STATUS_TIMERS);
        (all, slots.iter().map(|s| s.1).sum())
    }
}
