//! The benchmark guard (`--guard FILE`, run by `.ci/run`): W1's host figures
//! as ratios to the Python SDK's in the same run, against the committed
//! baseline ratios of the same build profile (`bench/guard.json`). It fails
//! only when a ratio is worse than its baseline by more than the file's
//! margin (2x), so a large regression cannot land unnoticed while the noise
//! of a shared CI machine does not fail it.
//!
//! Ratios rather than times: the host and the SDK share the machine and the
//! run, so a slower machine moves both. The profile matters (a debug host is
//! several times slower than a release one against the same Python), so the
//! file holds one set of ratios per profile. `cargo test` does not run the
//! guard (`tests/bench_quick.rs` checks only that the benchmark runs).

use crate::report::Row;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A guarded figure: its name in the file, whether higher is better, and how
/// to read it from W1's figures.
type Figure = (
    &'static str,
    bool,
    fn(&crate::workloads::Figures) -> Option<f64>,
);

/// W1's CPU time and idle memory. Not its throughput: in the debug
/// profile the benchmark's own sandbox and driver (debug too) bound it, and
/// its ratio to Python's swung from 0.25 to 1.49 in three runs in a row on
/// the shared 2-core machine, far beyond any margin that would still catch
/// something.
const FIGURES: [Figure; 2] = [
    ("w1_cpu", false, |f| Some(f.cpu_s)),
    ("w1_idle_rss", false, |f| f.idle_rss_mib),
];

/// W1's refreshes at least, when guarding: the CPU figures come from a
/// 10 ms clock tick, and `--quick`'s 400 refreshes cost the Python SDK about
/// 60 ms, so one tick either way moved the ratio by a sixth. With 4,000, a
/// debug host and the SDK each take half a second or more; a release host
/// took 30 to 40 ms for 4,000, so it gets 20,000 (about 0.2 s).
pub const REFRESHES: usize = if cfg!(debug_assertions) {
    4_000
} else {
    20_000
};

#[derive(serde::Deserialize)]
struct Baseline {
    /// How much worse than its baseline a ratio may be (2: half the
    /// throughput ratio, twice the CPU or memory ratio).
    margin: f64,
    /// Profile (`debug`, `release`) -> figure -> host / Python.
    profiles: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The profile this benchmark (and so the host next to it) was built in.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Compares W1's host / Python ratios with the baseline in `file`; prints
/// every figure, its baseline and its limit. An error when one is past its
/// limit, or when a figure is missing (no Python, a failed run).
pub fn check(rows: &[Row], file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let baseline: Baseline =
        serde_json::from_str(&text).with_context(|| format!("{}", file.display()))?;
    let ratios = baseline.profiles.get(profile()).with_context(|| {
        format!(
            "{}: no baseline for the {} profile",
            file.display(),
            profile()
        )
    })?;
    let w1 = rows
        .iter()
        .find(|r| r.id == "W1")
        .context("the guard needs W1")?;
    let (Some(host), Some(python)) = (&w1.host, &w1.python) else {
        bail!("the guard needs W1 on both the host and the Python SDK");
    };
    let mut failed = Vec::new();
    println!(
        "guard ({} profile, margin {}x):",
        profile(),
        baseline.margin
    );
    for (name, higher_is_better, get) in FIGURES {
        let (Some(h), Some(p)) = (get(host), get(python)) else {
            bail!("{name}: not measured");
        };
        let ratio = h / p;
        let base = *ratios
            .get(name)
            .with_context(|| format!("{}: no baseline for {name}", file.display()))?;
        let (limit, ok) = if higher_is_better {
            let limit = base / baseline.margin;
            (limit, ratio >= limit)
        } else {
            let limit = base * baseline.margin;
            (limit, ratio <= limit)
        };
        println!(
            "  {name}: host / python {ratio:.3} (host {h:.3}, python {p:.3}), baseline {base:.3}, limit {} {limit:.3}: {}",
            if higher_is_better { ">=" } else { "<=" },
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("past the baseline's margin: {}", failed.join(", "));
    }
    Ok(())
}
