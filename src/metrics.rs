//! The host's metrics: every family's name and help in one place, and the
//! Prometheus recorder behind `GET /metrics`.
//!
//! Code records through the `metrics` crate's macros with the names below.
//! Without a recorder (no admin endpoint) those calls do nothing, so a host
//! that nobody scrapes pays nothing for them; [`install`] installs the
//! Prometheus exporter's recorder once per process.
//!
//! Histograms are recorded through [`record_seconds`], never directly: the
//! exporter keeps every histogram sample in a list until something drains
//! it into the buckets, which its `install_recorder` leaves to the scrape.
//! Nobody scraping, the list grew by ~17 bytes per handler call for ever.
//! [`record_seconds`] drains it every [`DRAIN_EVERY`] samples instead, so
//! memory is bounded whatever the scrape rate.

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Platform events received, by frame type (`join`, `message_up`...).
pub const EVENTS_RECEIVED: &str = "moobius_events_received_total";
/// Handler calls, by handler.
pub const HANDLER_CALLS: &str = "moobius_handler_calls_total";
/// Handler run time, by handler (seconds).
pub const HANDLER_DURATION: &str = "moobius_handler_duration_seconds";
/// Handler errors, by handler and kind (`limit`: a budget ran out;
/// `runtime`: anything else).
pub const HANDLER_ERRORS: &str = "moobius_handler_errors_total";
/// Frames handed to the link, by frame kind (`characters`, `message_down`...).
pub const FRAMES_SENT: &str = "moobius_frames_sent_total";
/// Items waiting in the outgoing queue (between the script and the link).
pub const OUTBOX_DEPTH: &str = "moobius_outbox_queue_depth";
/// Frames written to the platform and not yet acknowledged.
pub const FRAMES_IN_FLIGHT: &str = "moobius_frames_in_flight";
/// Recipient-group lookups answered by the cache, and those that created a group.
pub const GROUP_CACHE_HITS: &str = "moobius_group_cache_hits_total";
pub const GROUP_CACHE_MISSES: &str = "moobius_group_cache_misses_total";
/// Bytes of ids the group cache keeps.
pub const GROUP_CACHE_BYTES: &str = "moobius_group_cache_bytes";
/// Connections made after the first.
pub const RECONNECTS: &str = "moobius_reconnects_total";
/// 1 for the link's current state (label `state`), 0 for the others.
pub const LINK_STATE: &str = "moobius_link_state";
/// Sign-ins and token refreshes, by kind (`sign_in`, `refresh`) and outcome
/// (`ok`, `failed`): the first sign-in, the periodic renewals, and the
/// sign-ins after the platform refused a token.
pub const TOKEN_RENEWALS: &str = "moobius_token_renewals_total";
/// Hot reloads and bundle swaps, by outcome (`ok`, `failed`).
pub const RELOADS: &str = "moobius_reloads_total";
/// Deploys (and rollbacks) that ended, by outcome (`promoted`,
/// `rolled_back`, `vetoed`, `refused`, `failed`).
pub const DEPLOYS: &str = "moobius_deploys_total";
/// 1 for the version each script thread runs (labels `thread`,
/// `deploy_id`, `version`, `sha256`; empty for the version the host
/// started with), 0 for a version it ran before.
pub const VERSION_INFO: &str = "moobius_version_info";
/// Store operations from scripts, by operation (`get`, `set`...).
pub const STORE_OPERATIONS: &str = "moobius_store_operations_total";
/// Store commits and their latency (seconds).
pub const STORE_COMMITS: &str = "moobius_store_commits_total";
pub const STORE_COMMIT_DURATION: &str = "moobius_store_commit_duration_seconds";
/// Pending timers.
pub const TIMERS_PENDING: &str = "moobius_timers_pending";
/// Script requests on the network.
pub const REQUESTS_IN_FLIGHT: &str = "moobius_requests_in_flight";
/// The process's resident memory (bytes), read at each scrape.
pub const RESIDENT_MEMORY: &str = "moobius_process_resident_memory_bytes";
/// Cluster: 1 while this node is the gateway.
pub const CLUSTER_GATEWAY: &str = "moobius_cluster_gateway";
/// Cluster: partitions this node owns.
pub const CLUSTER_PARTITIONS: &str = "moobius_cluster_partitions_owned";
/// Cluster: entries of an owned partition's stream not yet handled (label
/// `partition`), read at each scrape of the status.
pub const CLUSTER_LAG: &str = "moobius_cluster_partition_lag";
/// Cluster: partitions this node took over.
pub const CLUSTER_TAKEOVERS: &str = "moobius_cluster_takeovers_total";
/// Cluster: upward events the gateway appended to the partitions' streams.
pub const CLUSTER_UP_EVENTS: &str = "moobius_cluster_events_appended_total";
/// Cluster: frames the gateway took from the `down` stream, by outcome
/// (`sent`, `repeat`, `fenced`).
pub const CLUSTER_DOWN_FRAMES: &str = "moobius_cluster_frames_total";

/// Every family with its help text, for `# HELP` lines (and a test).
pub const FAMILIES: &[(&str, &str)] = &[
    (EVENTS_RECEIVED, "Platform events received, by type."),
    (HANDLER_CALLS, "Script handler calls, by handler."),
    (
        HANDLER_DURATION,
        "Script handler run time in seconds, by handler.",
    ),
    (
        HANDLER_ERRORS,
        "Script handler errors, by handler and kind (limit, host_call, runtime).",
    ),
    (
        FRAMES_SENT,
        "Frames handed to the platform connection, by kind.",
    ),
    (OUTBOX_DEPTH, "Items waiting in the outgoing queue."),
    (FRAMES_IN_FLIGHT, "Frames written and not yet acknowledged."),
    (GROUP_CACHE_HITS, "Recipient groups found in the cache."),
    (
        GROUP_CACHE_MISSES,
        "Recipient groups created on the platform.",
    ),
    (GROUP_CACHE_BYTES, "Bytes of ids held by the group cache."),
    (RECONNECTS, "Connections to the platform after the first."),
    (LINK_STATE, "1 for the connection's current state."),
    (TOKEN_RENEWALS, "Token renewals, by kind and outcome."),
    (RELOADS, "Hot reloads and bundle swaps, by outcome."),
    (DEPLOYS, "Deploys and rollbacks that ended, by outcome."),
    (
        VERSION_INFO,
        "1 for the version each script thread runs, by thread, deploy id, version and sha256.",
    ),
    (
        STORE_OPERATIONS,
        "Store operations from scripts, by operation.",
    ),
    (STORE_COMMITS, "Store commits."),
    (STORE_COMMIT_DURATION, "Store commit latency in seconds."),
    (TIMERS_PENDING, "Timers pending."),
    (REQUESTS_IN_FLIGHT, "Script HTTP requests in flight."),
    (RESIDENT_MEMORY, "Resident memory of the process in bytes."),
    (CLUSTER_GATEWAY, "1 while this cluster node is the gateway."),
    (CLUSTER_PARTITIONS, "Partitions this cluster node owns."),
    (
        CLUSTER_LAG,
        "Entries of an owned partition's stream not yet handled.",
    ),
    (CLUSTER_TAKEOVERS, "Partitions this cluster node took over."),
    (
        CLUSTER_UP_EVENTS,
        "Upward events appended to the partitions' streams (gateway).",
    ),
    (
        CLUSTER_DOWN_FRAMES,
        "Frames read from the down stream by the gateway, by outcome.",
    ),
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns the
/// handle that renders the text format; `None` when another recorder was
/// installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match builder().install_recorder() {
            Ok(handle) => {
                for (name, help) in FAMILIES {
                    describe(name, help);
                }
                GENERATION.fetch_add(1, Ordering::Relaxed);
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics are off: cannot install the recorder");
                None
            }
        })
        .clone()
}

/// Histogram samples recorded between two drains into the buckets, at
/// most: the exporter holds ~17 bytes per sample until drained, so this
/// bounds it to ~1 MiB, and a drain (a pass over the histograms, a few
/// microseconds each) costs nothing measurable per sample.
pub const DRAIN_EVERY: u64 = 65_536;

static SAMPLES: AtomicU64 = AtomicU64::new(0);

/// Records `seconds` in `histogram`, and drains every histogram's samples
/// into its buckets every [`DRAIN_EVERY`] samples (see the module comment).
pub fn record_seconds(histogram: &Histogram, seconds: f64) {
    histogram.record(seconds);
    let recorded = SAMPLES.fetch_add(1, Ordering::Relaxed) + 1;
    if recorded % DRAIN_EVERY == 0 {
        if let Some(Some(handle)) = HANDLE.get() {
            handle.run_upkeep();
        }
    }
}

/// Latency buckets (seconds) for the `_seconds` histograms: from 100 us
/// (a handler's usual time) to 5 s (past every budget).
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Histograms with buckets (the exporter's default is a summary, which
/// cannot be aggregated across processes).
fn builder() -> PrometheusBuilder {
    let seconds = metrics_exporter_prometheus::Matcher::Suffix("_seconds".into());
    match PrometheusBuilder::new().set_buckets_for_metric(seconds, BUCKETS) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "histogram buckets refused; latencies are summaries");
            PrometheusBuilder::new()
        }
    }
}

fn describe(name: &'static str, help: &'static str) {
    if name.ends_with("_total") {
        metrics::describe_counter!(name, help);
    } else if name.ends_with("_seconds") {
        metrics::describe_histogram!(name, metrics::Unit::Seconds, help);
    } else {
        metrics::describe_gauge!(name, help);
    }
}

/// The text for `GET /metrics`, with the hot paths' tallies and the
/// scrape-time gauges handed over first.
pub fn render(handle: &PrometheusHandle) -> String {
    for tally in [&EVENTS, &FRAMES, &CACHE_HITS] {
        tally.publish();
    }
    for level in [&OUTBOX, &IN_FLIGHT, &TIMERS] {
        level.publish();
    }
    if let Some(bytes) = resident_bytes() {
        metrics::gauge!(RESIDENT_MEMORY).set(bytes as f64);
    }
    handle.render()
}

/// Resident memory from `/proc/self/statm` (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A handler's name as a label: the known handlers without allocating,
/// timer and request callbacks by their own name.
pub fn handler_label(name: &str) -> metrics::SharedString {
    match crate::script::handler_named(name) {
        Some(h) => metrics::SharedString::const_str(h.name),
        None => metrics::SharedString::from(name.to_string()),
    }
}

// Handler metrics (one per handler name) go through handles cached per
// thread, so a recording is a small map lookup instead of the registry's
// hashing of the key and its labels. The cache is emptied when a recorder
// is installed: handles taken before that are no-ops.

static GENERATION: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct Cache {
    generation: u64,
    handlers: HashMap<String, (Counter, Histogram)>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Runs `f` on this thread's cache; nothing at all while no recorder is
/// installed (generation 0).
fn with_cache(f: impl FnOnce(&mut Cache)) {
    if GENERATION.load(Ordering::Relaxed) == 0 {
        return;
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let generation = GENERATION.load(Ordering::Relaxed);
        if c.generation != generation {
            *c = Cache {
                generation,
                ..Cache::default()
            };
        }
        f(&mut c)
    })
}

/// A counter of a hot path kept in plain atomics, one per label value,
/// and handed to the recorder at each scrape ([`render`]): counting an
/// event costs an atomic add, whether metrics are on or not.
pub struct Tally {
    family: &'static str,
    label: &'static str,
    /// The label's values; an unknown value counts under the last.
    values: &'static [&'static str],
    counts: [AtomicU64; 16],
}

impl Tally {
    const fn new(
        family: &'static str,
        label: &'static str,
        values: &'static [&'static str],
    ) -> Self {
        Tally {
            family,
            label,
            values,
            counts: [const { AtomicU64::new(0) }; 16],
        }
    }

    pub fn add(&self, value: &str) {
        let last = self.values.len().saturating_sub(1);
        let i = self
            .values
            .iter()
            .position(|v| std::ptr::eq(*v, value) || *v == value)
            .unwrap_or(last);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn publish(&self) {
        for (v, c) in self.values.iter().zip(&self.counts) {
            let n = c.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            if self.label.is_empty() {
                metrics::counter!(self.family).absolute(n);
            } else {
                metrics::counter!(self.family, self.label => *v).absolute(n);
            }
        }
    }
}

/// A gauge of a hot path kept in an atomic and handed to the recorder at
/// each scrape.
pub struct Level {
    family: &'static str,
    bits: AtomicU64,
}

impl Level {
    const fn new(family: &'static str) -> Self {
        Level {
            family,
            bits: AtomicU64::new(0),
        }
    }

    pub fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }

    fn publish(&self) {
        metrics::gauge!(self.family).set(f64::from_bits(self.bits.load(Ordering::Relaxed)));
    }
}

pub static EVENTS: Tally = Tally::new(
    EVENTS_RECEIVED,
    "type",
    &[
        "join",
        "leave",
        "refresh",
        "message_up",
        "button_click",
        "menu_item_click",
        "copy",
        "message_down",
        "update",
        "gateway_error",
        "error",
        "other",
    ],
);
pub static FRAMES: Tally = Tally::new(
    FRAMES_SENT,
    "kind",
    &[
        "characters",
        "buttons",
        "canvas",
        "menu",
        "style",
        "channel_info",
        "message_down",
        "action",
        "message_up",
        "none",
    ],
);
pub static CACHE_HITS: Tally = Tally::new(GROUP_CACHE_HITS, "", &[""]);
pub static OUTBOX: Level = Level::new(OUTBOX_DEPTH);
pub static IN_FLIGHT: Level = Level::new(FRAMES_IN_FLIGHT);
pub static TIMERS: Level = Level::new(TIMERS_PENDING);

/// A handler ran for `elapsed`; `error` is the kind of its failure
/// (`limit`, `host_call`, `runtime`), if it failed.
pub fn handler_ran(handler: &str, elapsed: Duration, error: Option<&'static str>) {
    if GENERATION.load(Ordering::Relaxed) == 0 {
        return;
    }
    with_cache(|c| {
        if !c.handlers.contains_key(handler) {
            let label = handler_label(handler);
            let calls = metrics::counter!(HANDLER_CALLS, "handler" => label.clone());
            let duration = metrics::histogram!(HANDLER_DURATION, "handler" => label);
            c.handlers.insert(handler.to_string(), (calls, duration));
        }
        if let Some((calls, duration)) = c.handlers.get(handler) {
            calls.increment(1);
            record_seconds(duration, elapsed.as_secs_f64());
        }
    });
    if let Some(kind) = error {
        let label = handler_label(handler);
        metrics::counter!(HANDLER_ERRORS, "handler" => label, "kind" => kind).increment(1);
    }
}
