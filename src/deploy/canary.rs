//! The canary's evidence and its judgement.
//!
//! Each script thread counts, for every handler call, that it ran, whether
//! it failed, and how long it took ([`AtomicHandlerStats`], lock-free: the
//! thread writes, the deploy reads). A deploy takes a mark when the canary
//! starts and compares what the canary threads did since then with what the
//! other threads did ([`HandlerStats::since`]); [`judge`] turns the two into
//! promote, roll back or keep watching. It is a pure function so that the
//! lone host and a cluster judge alike, and so that it is tested without
//! clocks.
//!
//! Latency is kept as a histogram of quarter-octave buckets of
//! microseconds ([`LATENCY_BUCKETS`] of them): a fixed size whatever the
//! traffic, and a p99 within 25% of the true value, which is enough to see a
//! version that is twice as slow.

use super::config::CanaryThresholds;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets of the latency histogram: four per octave from 1 us, the last
/// one holding everything from about 25 s (above any handler's time limit
/// worth having; the limit's maximum is 300 s).
pub const LATENCY_BUCKETS: usize = 100;

/// The bucket of a latency in microseconds.
fn bucket(us: u64) -> usize {
    let idx = if us < 4 {
        us as usize
    } else {
        let e = 63 - us.leading_zeros() as usize; // >= 2
        let sub = ((us >> (e - 2)) & 3) as usize;
        4 * (e - 1) + sub
    };
    idx.min(LATENCY_BUCKETS - 1)
}

/// The exclusive upper bound of a bucket, in microseconds.
fn bucket_upper(idx: usize) -> u64 {
    if idx < 4 {
        return idx as u64 + 1;
    }
    let e = idx / 4 + 1;
    let sub = (idx % 4) as u64;
    (5 + sub).checked_shl(e as u32 - 2).unwrap_or(u64::MAX)
}

/// Handler calls counted on some threads over some time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerStats {
    pub events: u64,
    pub errors: u64,
    /// Calls per latency bucket ([`LATENCY_BUCKETS`] entries).
    pub latency: Vec<u64>,
}

impl Default for HandlerStats {
    fn default() -> Self {
        HandlerStats {
            events: 0,
            errors: 0,
            latency: vec![0; LATENCY_BUCKETS],
        }
    }
}

impl HandlerStats {
    /// Counts one call.
    pub fn record(&mut self, took: Duration, failed: bool) {
        self.events += 1;
        self.errors += u64::from(failed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if let Some(b) = self.latency.get_mut(bucket(us)) {
            *b += 1;
        }
    }

    /// What was counted after `mark` was taken (of the same counters).
    pub fn since(&self, mark: &HandlerStats) -> HandlerStats {
        HandlerStats {
            events: self.events.saturating_sub(mark.events),
            errors: self.errors.saturating_sub(mark.errors),
            latency: (0..LATENCY_BUCKETS)
                .map(|i| {
                    let now = self.latency.get(i).copied().unwrap_or(0);
                    now.saturating_sub(mark.latency.get(i).copied().unwrap_or(0))
                })
                .collect(),
        }
    }

    /// Adds another thread's counts.
    pub fn merge(&mut self, other: &HandlerStats) {
        self.events += other.events;
        self.errors += other.errors;
        self.latency.resize(LATENCY_BUCKETS, 0);
        for (a, b) in self.latency.iter_mut().zip(&other.latency) {
            *a += b;
        }
    }

    /// Failed calls per call (0 without calls).
    pub fn error_ratio(&self) -> f64 {
        if self.events == 0 {
            return 0.0;
        }
        self.errors as f64 / self.events as f64
    }

    /// The 99th percentile's bucket's upper bound (microseconds), `None`
    /// without calls.
    pub fn p99_us(&self) -> Option<u64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = total - total / 100; // ceil(0.99 * total) for any total >= 1
        let mut seen = 0;
        for (i, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_upper(i));
            }
        }
        Some(bucket_upper(LATENCY_BUCKETS - 1))
    }
}

/// One script thread's counters, written by the thread and read by
/// whoever judges a canary.
#[derive(Debug)]
pub struct AtomicHandlerStats {
    events: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for AtomicHandlerStats {
    fn default() -> Self {
        AtomicHandlerStats {
            events: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl AtomicHandlerStats {
    /// Counts `calls` handler calls that took `took` together, `failed` of
    /// them failing.
    pub fn record(&self, took: Duration, calls: u64, failed: u64) {
        if calls == 0 {
            return;
        }
        self.events.fetch_add(calls, Ordering::Relaxed);
        self.errors.fetch_add(failed, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX) / calls;
        self.latency[bucket(us)].fetch_add(calls, Ordering::Relaxed);
    }

    /// The counts so far (take one as a mark, another later, and
    /// [`HandlerStats::since`] gives what happened between).
    pub fn snapshot(&self) -> HandlerStats {
        HandlerStats {
            events: self.events.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: self
                .latency
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// What to do with a canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough seen yet, and the window is still open.
    Continue,
    /// Move every thread to the new version; `note` says what was thin
    /// about the evidence, if anything.
    Promote { note: Option<String> },
    /// Back to the previous version, for this reason.
    Rollback { reason: String },
}

/// Judges the canary threads' counts (since the canary started) against the
/// other threads' over the same time (`baseline`; `None` when the canary is
/// every thread: then only the thresholds' absolute part applies, against
/// an error-free baseline).
///
/// Rolls back as soon as the canary handled `min_events` calls and is worse
/// than the thresholds allow (or at the window's end, whatever it handled);
/// promotes at the window's end otherwise.
pub fn judge(
    canary: &HandlerStats,
    baseline: Option<&HandlerStats>,
    t: &CanaryThresholds,
    window_over: bool,
) -> Verdict {
    let enough = canary.events >= t.min_events.max(1);
    if enough || (window_over && canary.events > 0) {
        if let Some(reason) = worse(canary, baseline, t) {
            return Verdict::Rollback { reason };
        }
    }
    if !window_over {
        return Verdict::Continue;
    }
    let note = (!enough).then(|| {
        format!(
            "the canary handled {} events in its window (min_events is {}): promoted on that",
            canary.events, t.min_events
        )
    });
    Verdict::Promote { note }
}

/// Why the canary is worse than the thresholds allow, if it is.
fn worse(
    canary: &HandlerStats,
    baseline: Option<&HandlerStats>,
    t: &CanaryThresholds,
) -> Option<String> {
    let base_ratio = baseline.map_or(0.0, HandlerStats::error_ratio);
    let ratio = canary.error_ratio();
    if ratio > base_ratio + t.max_error_ratio {
        let others = match baseline {
            Some(b) => format!(
                "{:.1}% of {} on the other threads",
                base_ratio * 100.0,
                b.events
            ),
            None => "no other threads to compare with".into(),
        };
        return Some(format!(
            "handler errors: {:.1}% of the canary's {} events failed ({others}; max_error_ratio {})",
            ratio * 100.0,
            canary.events,
            t.max_error_ratio
        ));
    }
    let base = baseline.filter(|b| b.events >= t.min_events.max(1))?;
    let (c99, b99) = (canary.p99_us()?, base.p99_us()?);
    let limit = b99 as f64 * t.max_p99_ratio + (t.p99_slack_ms * 1000) as f64;
    (c99 as f64 > limit).then(|| {
        format!(
            "handler latency: p99 about {:.1} ms on the canary, {:.1} ms on the other threads (max_p99_ratio {}, p99_slack_ms {})",
            c99 as f64 / 1000.0,
            b99 as f64 / 1000.0,
            t.max_p99_ratio,
            t.p99_slack_ms
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(events: u64, errors: u64, each: Duration) -> HandlerStats {
        let mut s = HandlerStats::default();
        for i in 0..events {
            s.record(each, i < errors);
        }
        s
    }

    fn t() -> CanaryThresholds {
        CanaryThresholds::default()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn buckets_are_quarter_octaves_and_bound_their_values() {
        for us in [0, 1, 3, 4, 5, 7, 8, 9, 100, 1_000, 123_456, 10_000_000] {
            let b = bucket(us);
            assert!(us < bucket_upper(b), "{us} in bucket {b}");
            if b > 0 {
                assert!(us >= bucket_upper(b - 1), "{us} above bucket {}", b - 1);
            }
            assert!(bucket_upper(b) as f64 <= (us as f64 * 1.25).max(us as f64 + 1.0));
        }
        assert_eq!(bucket(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn the_p99_is_the_slow_tail() {
        let mut s = stats(99, 0, MS);
        s.merge(&stats(1, 0, 100 * MS));
        assert!(s.p99_us().is_some_and(|p| (1_000..1_250).contains(&p)));
        s.merge(&stats(1, 0, 100 * MS));
        assert!(s.p99_us().is_some_and(|p| p >= 100_000));
        assert_eq!(HandlerStats::default().p99_us(), None);
    }

    #[test]
    fn since_a_mark_counts_only_what_came_after() {
        let live = AtomicHandlerStats::default();
        live.record(MS, 1, 1);
        let mark = live.snapshot();
        live.record(2 * MS, 2, 0);
        let after = live.snapshot().since(&mark);
        assert_eq!((after.events, after.errors), (2, 0));
        assert_eq!(after.latency.iter().sum::<u64>(), 2);
    }

    #[test]
    fn a_canary_that_fails_more_is_rolled_back_early() {
        let v = judge(&stats(20, 5, MS), Some(&stats(200, 0, MS)), &t(), false);
        assert!(
            matches!(&v, Verdict::Rollback { reason } if reason.contains("handler errors")),
            "{v:?}"
        );
        // As many failures as the others (a broken channel, not the version).
        let same = judge(&stats(100, 5, MS), Some(&stats(100, 5, MS)), &t(), false);
        assert_eq!(same, Verdict::Continue);
    }

    #[test]
    fn a_slower_canary_is_rolled_back_a_similar_one_promoted() {
        let slow = judge(&stats(50, 0, 20 * MS), Some(&stats(50, 0, MS)), &t(), false);
        assert!(matches!(&slow, Verdict::Rollback { reason } if reason.contains("latency")));
        let fine = judge(&stats(50, 0, MS), Some(&stats(50, 0, MS)), &t(), true);
        assert_eq!(fine, Verdict::Promote { note: None });
    }

    #[test]
    fn thin_evidence_waits_for_the_window_then_says_so() {
        assert_eq!(
            judge(&stats(2, 0, MS), None, &t(), false),
            Verdict::Continue
        );
        let v = judge(&stats(2, 0, MS), None, &t(), true);
        assert!(matches!(v, Verdict::Promote { note: Some(_) }), "{v:?}");
        // At the window's end a few failures are judged anyway.
        let v = judge(&stats(2, 2, MS), None, &t(), true);
        assert!(matches!(v, Verdict::Rollback { .. }), "{v:?}");
        // Without a baseline there is no latency to compare with.
        assert_eq!(
            judge(&stats(50, 0, 900 * MS), None, &t(), true),
            Verdict::Promote { note: None }
        );
    }
}
