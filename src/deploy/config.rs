//! How deploys behave, with the one home of every default: the canary's
//! window and the thresholds it is judged by. The config's `deploy`
//! section (docs/CONFIG.md) sets them; `deploy --window` overrides the
//! window for one deploy.

use std::time::Duration;

/// When a canary is worse than the other threads (see [`super::judge`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryThresholds {
    /// How much more often (a share of calls, 0.01 = one percentage point)
    /// the canary's handlers may fail than the other threads'. A version
    /// that throws where the old one did not shows up as tens of points;
    /// one point is above the noise of a service whose handlers fail now
    /// and then for reasons of their own (a platform call timing out).
    pub max_error_ratio: f64,
    /// How many times the other threads' handler p99 the canary's may be.
    /// The histogram is exact to 25%, and channels differ, so less than 2
    /// would roll back on noise; a version twice as slow is worth a look.
    pub max_p99_ratio: f64,
    /// Added to that limit (ms): a p99 of 0.2 ms against 0.1 ms is twice as
    /// slow and harmless; only a difference a member could notice counts.
    pub p99_slack_ms: u64,
    /// Calls the canary must handle before it is judged early (and before
    /// latency is compared at all): 20 calls make a 5% failure rate one
    /// failure, below which a ratio is noise.
    pub min_events: u64,
}

impl Default for CanaryThresholds {
    fn default() -> Self {
        CanaryThresholds {
            max_error_ratio: 0.01,
            max_p99_ratio: 2.0,
            p99_slack_ms: 5,
            min_events: 20,
        }
    }
}

/// The config's `deploy` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployConfig {
    /// How long a canary is watched before it is promoted: a minute sees
    /// the refreshes and messages of an active channel, and an operator
    /// waiting at the terminal can bear it (`deploy --window` for more).
    pub canary_window: Duration,
    pub thresholds: CanaryThresholds,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            canary_window: Duration::from_secs(60),
            thresholds: CanaryThresholds::default(),
        }
    }
}
