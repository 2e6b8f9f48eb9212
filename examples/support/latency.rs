//! Refresh latency as the benchmarks measure it, from the sandbox's view
//! events: a refresh is answered when the member's next view event arrives.
//! Shared by the examples that include it (`#[path]`); each uses a part.
#![allow(dead_code)]

use moobius_host::sandbox::{SandboxControl, ViewEvent};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The next view event for `user` (a message or an update reached them).
pub async fn next_view(events: &mut broadcast::Receiver<ViewEvent>, user: &str) -> Instant {
    loop {
        match events.recv().await {
            Ok(ev) if ev.user_id == user => return Instant::now(),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return Instant::now(),
        }
    }
}

/// Serial refreshes by `user`: the latency of each, sorted.
pub async fn refresh_latencies(
    c: &SandboxControl,
    user: &str,
    ch: &str,
    n: usize,
) -> Vec<Duration> {
    let mut events = c.subscribe();
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let sent = Instant::now();
        let _ = c.act(user, ch, "refresh").await;
        lat.push(next_view(&mut events, user).await - sent);
    }
    lat.sort();
    lat
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p` quantile (0 to 1) of sorted latencies, in ms.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| ms(*d))
}
