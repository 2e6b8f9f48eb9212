//! When each view arrived, per member, from the sandbox's view events.
//!
//! Every downward event that reaches a member bumps their view and emits an
//! event; recording the arrival instants lets the benchmark measure latency
//! (action sent -> view arrived) and know when a workload is complete.

use moobius_host::sandbox::SandboxControl;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Default)]
struct Log {
    by_user: HashMap<String, Vec<Instant>>,
    total: usize,
    lagged: u64,
}

#[derive(Clone)]
pub struct Arrivals {
    log: Arc<Mutex<Log>>,
    notify: Arc<Notify>,
}

impl Arrivals {
    pub fn start(control: &SandboxControl) -> (Arrivals, tokio::task::JoinHandle<()>) {
        let arrivals = Arrivals {
            log: Arc::default(),
            notify: Arc::new(Notify::new()),
        };
        let mut events = control.subscribe();
        let a = arrivals.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if let Ok(mut log) = a.log.lock() {
                            log.by_user
                                .entry(ev.user_id)
                                .or_default()
                                .push(Instant::now());
                            log.total += 1;
                        }
                        a.notify.notify_waiters();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        if let Ok(mut log) = a.log.lock() {
                            log.lagged += n;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        (arrivals, task)
    }

    pub fn count(&self, user_id: &str) -> usize {
        self.log
            .lock()
            .map(|l| l.by_user.get(user_id).map_or(0, Vec::len))
            .unwrap_or(0)
    }

    /// The arrival instants of `user_id`'s views from index `from` on.
    pub fn since(&self, user_id: &str, from: usize) -> Vec<Instant> {
        self.log
            .lock()
            .map(|l| {
                l.by_user
                    .get(user_id)
                    .map(|v| v.get(from..).unwrap_or(&[]).to_vec())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Views recorded so far, for everyone.
    pub fn total(&self) -> usize {
        self.log.lock().map(|l| l.total).unwrap_or(0)
    }

    /// Waits until at least `n` views were recorded in all; false at the deadline.
    pub async fn wait_total(&self, n: usize, deadline: Instant) -> bool {
        loop {
            let notified = self.notify.notified();
            if self.total() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notified).await;
        }
    }

    pub fn lagged(&self) -> u64 {
        self.log.lock().map(|l| l.lagged).unwrap_or(0)
    }

    /// Waits until every `(user, count)` has at least that many arrivals;
    /// false at the deadline.
    pub async fn wait_counts(&self, want: &[(String, usize)], deadline: Instant) -> bool {
        loop {
            let notified = self.notify.notified();
            if want.iter().all(|(u, n)| self.count(u) >= *n) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // The timeout also covers a notification missed between check and wait.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notified).await;
        }
    }
}
