//! Every number the config accepts, with its range (and, for
//! `service_config`, its default; `script_limits`' defaults are
//! [`crate::script::ScriptLimits::default`]).
//!
//! Without bounds a number the code cannot use failed far from the config:
//! `heartbeat_interval: 1e300` panicked in `Duration::from_secs_f64` (exit
//! 101), `1e-12` killed the WebSocket task later, `checkin_interval: 1e-6`
//! flooded the platform. Checked at load, a bad value costs one line naming
//! the file, the key, the value and the range (exit 2). The table of ranges
//! in docs/CONFIG.md is checked against these by a test.

use serde_json::Value;

/// The values one key accepts.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub key: &'static str,
    pub min: f64,
    pub max: f64,
    /// Counts, milliseconds and bytes: whole numbers only.
    pub whole: bool,
    /// Shown after the range: `seconds`, `ms`, `bytes`...
    pub unit: &'static str,
    /// 0 is accepted too, with this meaning (`disables`, `unlimited`).
    pub zero: Option<&'static str>,
    /// Why the maximum is the maximum, for the message when it is exceeded.
    pub why_max: Option<&'static str>,
}

const fn range(key: &'static str, min: f64, max: f64, unit: &'static str) -> Range {
    Range {
        key,
        min,
        max,
        whole: true,
        unit,
        zero: None,
        why_max: None,
    }
}

impl Range {
    const fn fractional(self) -> Range {
        Range {
            whole: false,
            ..self
        }
    }

    const fn or_zero(self, meaning: &'static str) -> Range {
        Range {
            zero: Some(meaning),
            ..self
        }
    }

    /// What is accepted: `0 (disables) or 1 to 86400 seconds`.
    pub fn expected(&self) -> String {
        let zero = self
            .zero
            .map(|m| format!("0 ({m}) or "))
            .unwrap_or_default();
        format!("{zero}{} to {} {}", self.min, self.max, self.unit)
    }

    /// The value of this key in a section: `Ok(None)` when absent or null
    /// (the default applies), else the number if it is in range, else why
    /// not (the value and the range, in one line).
    pub fn check(&self, value: Option<&Value>) -> Result<Option<f64>, crate::Reason> {
        let v = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => v,
        };
        let expected = self.expected();
        let Some(n) = v.as_f64() else {
            return Err(format!(
                "{} is not a number (expected {expected})",
                shown(v)
            ));
        };
        if n == 0.0 && self.zero.is_some() {
            return Ok(Some(0.0));
        }
        if self.whole && n.fract() != 0.0 {
            return Err(format!(
                "{} is not a whole number (expected {expected})",
                shown(v)
            ));
        }
        if let (true, Some(why)) = (n > self.max, self.why_max) {
            return Err(format!(
                "{} is more than {why} (at most {})",
                shown(v),
                self.max
            ));
        }
        if !(self.min..=self.max).contains(&n) {
            return Err(format!(
                "{} is out of range (expected {expected})",
                shown(v)
            ));
        }
        Ok(Some(n))
    }
}

/// A value as a message shows it: one line, short, numbers as an author
/// writes them (`1e300`, `0.5`, `3601`).
pub(super) fn shown(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f != 0.0 && !(1e-4..1e16).contains(&f.abs()) {
                format!("{f:e}")
            } else {
                format!("{f}")
            }
        }
        Value::String(s) if s.chars().count() > 32 => {
            format!("{:?}...", s.chars().take(32).collect::<String>())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
        other => other.to_string(),
    }
}

// service_config

pub const DEFAULT_HEARTBEAT_INTERVAL_SECS: f64 = 30.0;
pub const HEARTBEAT_INTERVAL: Range =
    range("heartbeat_interval", 0.1, 3600.0, "seconds").fractional();
pub const DEFAULT_CHECKIN_INTERVAL_SECS: f64 = 3600.0;
pub const CHECKIN_INTERVAL: Range = range("checkin_interval", 1.0, 86400.0, "seconds")
    .fractional()
    .or_zero("disables");
pub const DEFAULT_RECONNECT_MIN_MS: u64 = 250;
pub const RECONNECT_MIN_MS: Range = range("reconnect_min_ms", 10.0, 60_000.0, "ms");
pub const DEFAULT_RECONNECT_MAX_MS: u64 = 30_000;
/// Also at least `reconnect_min_ms` (checked by the loader).
pub const RECONNECT_MAX_MS: Range = range("reconnect_max_ms", 10.0, 600_000.0, "ms");
pub const DEFAULT_OUTGOING_QUEUE_LIMIT: usize = 10_000;
pub const OUTGOING_QUEUE_LIMIT: Range = range("outgoing_queue_limit", 1.0, 1e6, "frames");

/// One script thread: handlers of every channel one at a time, members'
/// events in arrival order.
pub const DEFAULT_SCRIPT_THREADS: usize = 1;
/// `"auto"` is also accepted: the machine's cores.
pub const SCRIPT_THREADS: Range = range("script_threads", 1.0, 256.0, "threads");

/// Worker threads of `run`'s async runtime (the connection, the outbox,
/// timers, requests, the admin endpoint); script threads are apart. `"auto"`
/// is also accepted: the machine's cores (the runtime's own default).
pub const RUNTIME_THREADS: Range = range("runtime_threads", 1.0, 256.0, "threads");

/// `runtime_threads` by default: one per script thread, at most one per
/// core. The runtime's side of an event costs about two thirds of the
/// script's (bench/RESULTS.md, "Where a refresh's CPU goes"), so one worker
/// keeps up with one script thread; each worker more costs some 0.7 MiB
/// resident (its stack and allocator arena) on an idle service, and the
/// runtime's own default (one per core) gives 16 of them to a lone script
/// thread on a 16-core machine.
pub fn default_runtime_threads(script_threads: usize) -> usize {
    script_threads.clamp(1, cores())
}

/// The machine's cores, as the standard library sees them (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// At most the default of `request_timeout_max_ms`, so that either may be
/// set alone.
pub const REQUEST_TIMEOUT_MS: Range = range("request_timeout_ms", 1.0, 120_000.0, "ms");
pub const DEFAULT_REQUEST_TIMEOUT_MAX_MS: u64 = 120_000;
/// Also at least `request_timeout_ms` (checked by the loader).
pub const REQUEST_TIMEOUT_MAX_MS: Range =
    range("request_timeout_max_ms", 10_000.0, 600_000.0, "ms");
pub const DEFAULT_REQUEST_MAX_BYTES: u64 = 10 << 20;
pub const REQUEST_MAX_BYTES: Range = range("request_max_bytes", 1.0, (1u64 << 30) as f64, "bytes");
/// All response bodies held at once (being read, or waiting for their
/// callback): without it `requests_in_flight` x `request_max_bytes` could
/// be gigabytes.
pub const DEFAULT_REQUEST_BUDGET_BYTES: u64 = 64 << 20;
pub const REQUEST_BUDGET_BYTES: Range =
    range("request_budget_bytes", 1.0, (1u64 << 34) as f64, "bytes");
pub const DEFAULT_REQUESTS_IN_FLIGHT: usize = 1_000;
pub const REQUESTS_IN_FLIGHT: Range = range("requests_in_flight", 1.0, 100_000.0, "requests");

/// The numbers in `service_config`.
pub const SERVICE: &[Range] = &[
    HEARTBEAT_INTERVAL,
    CHECKIN_INTERVAL,
    RECONNECT_MIN_MS,
    RECONNECT_MAX_MS,
    OUTGOING_QUEUE_LIMIT,
    SCRIPT_THREADS,
    RUNTIME_THREADS,
    REQUEST_TIMEOUT_MS,
    REQUEST_TIMEOUT_MAX_MS,
    REQUEST_MAX_BYTES,
    REQUEST_BUDGET_BYTES,
    REQUESTS_IN_FLIGHT,
];

// cluster

pub const DEFAULT_CLUSTER_PARTITIONS: usize = 64;
/// Partitions of the channels; each is owned by one node at a time.
pub const CLUSTER_PARTITIONS: Range = Range {
    why_max: Some("every node renews each partition it holds every lease_ms / 3"),
    ..range("partitions", 1.0, 1024.0, "partitions")
};
pub const DEFAULT_CLUSTER_LEASE_MS: u64 = 3_000;
/// How long a lease (the gateway's, a partition's) lasts without renewal:
/// the longest a failed node keeps its roles.
pub const CLUSTER_LEASE_MS: Range = range("lease_ms", 300.0, 60_000.0, "ms");

/// Every number of `cluster`.
pub const CLUSTER: &[Range] = &[CLUSTER_PARTITIONS, CLUSTER_LEASE_MS];

// deploy (the defaults are `crate::deploy::DeployConfig::default()`'s)

/// From a fraction of a second (tests, a service with constant traffic)
/// to an hour (an operator's patience).
pub const CANARY_WINDOW_MS: Range = range("canary_window_ms", 100.0, 3_600_000.0, "ms");
/// A share of handler calls: 0 (no more failures than the others) to 1.
pub const MAX_ERROR_RATIO: Range =
    range("max_error_ratio", 0.0, 1.0, "(a share of calls)").fractional();
pub const MAX_P99_RATIO: Range = range("max_p99_ratio", 1.0, 1000.0, "times").fractional();
pub const P99_SLACK_MS: Range = range("p99_slack_ms", 0.0, 60_000.0, "ms");
pub const MIN_EVENTS: Range = range("min_events", 1.0, 1e6, "events");

/// Every number of `deploy`.
pub const DEPLOY: &[Range] = &[
    CANARY_WINDOW_MS,
    MAX_ERROR_RATIO,
    MAX_P99_RATIO,
    P99_SLACK_MS,
    MIN_EVENTS,
];

// script_limits

pub const TIMEOUT_MS: Range = range("timeout_ms", 1.0, 300_000.0, "ms");
pub const MAX_OPERATIONS: Range =
    range("max_operations", 1.0, 1e12, "operations").or_zero("unlimited");
pub const MAX_CALL_LEVELS: Range = Range {
    why_max: Some("the script thread's stack holds"),
    ..range(
        "max_call_levels",
        1.0,
        crate::script::MAX_CALL_LEVELS_CAP as f64,
        "levels",
    )
};
pub const MAX_STRING_SIZE: Range =
    range("max_string_size", 1.0, (1u64 << 30) as f64, "bytes").or_zero("unlimited");
pub const MAX_ARRAY_SIZE: Range =
    range("max_array_size", 1.0, 1e8, "elements").or_zero("unlimited");
pub const MAX_MAP_SIZE: Range = range("max_map_size", 1.0, 1e8, "entries").or_zero("unlimited");
pub const MAX_OUTPUT_FRAMES: Range = range("max_output_frames", 1.0, 1e6, "frames");
pub const MAX_OUTPUT_BYTES: Range = range("max_output_bytes", 1.0, (1u64 << 30) as f64, "bytes");
/// A compile that takes longer is refused (a service that big stalls every
/// start and every reload); 5 s by default, ten minutes at most.
pub const COMPILE_TIMEOUT_MS: Range = range("compile_timeout_ms", 1.0, 600_000.0, "ms");
/// One scenario test's wall-clock budget; 30 s by default, an hour at most.
pub const TEST_TIMEOUT_MS: Range = range("test_timeout_ms", 1.0, 3_600_000.0, "ms");

/// Every key of `script_limits` (all of them numbers).
pub const LIMITS: &[Range] = &[
    TIMEOUT_MS,
    MAX_OPERATIONS,
    MAX_CALL_LEVELS,
    MAX_STRING_SIZE,
    MAX_ARRAY_SIZE,
    MAX_MAP_SIZE,
    MAX_OUTPUT_FRAMES,
    MAX_OUTPUT_BYTES,
    COMPILE_TIMEOUT_MS,
    TEST_TIMEOUT_MS,
];

#[cfg(test)]
#[path = "ranges_tests.rs"]
mod tests;
