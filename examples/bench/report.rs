//! The report: one table per workload, host and Python side by side, with
//! the ratio host / Python for every figure.

use crate::workloads::{Figures, Sizes};
use std::fmt::Write;

/// Reads one figure from a workload's results.
type Getter = fn(&Figures) -> Option<f64>;

pub struct Row {
    pub id: &'static str,
    pub name: &'static str,
    pub host: Option<Figures>,
    pub python: Option<Figures>,
}

fn cell(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".into(),
    }
}

fn ratio(h: Option<f64>, p: Option<f64>) -> String {
    match (h, p) {
        (Some(h), Some(p)) if h.is_finite() && p.is_finite() && p > 0.0 => format!("{:.3}", h / p),
        _ => "-".into(),
    }
}

pub fn markdown(rows: &[Row], sizes: &Sizes, quick: bool) -> String {
    let mut out = String::new();
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    let _ = writeln!(out, "# Benchmark: moobius-host vs the Python SDK 1.8.0\n");
    let _ = writeln!(
        out,
        "Date: {} (UTC). Mode: {}. Machine: {machine}. Sizes: {sizes:?}.\n",
        today_utc(),
        if quick { "quick" } else { "full" }
    );
    let _ = writeln!(out, "Ratios are host / Python: above 1 is better for rates, below 1 is better for latency, memory and CPU.\n");
    for r in rows {
        let _ = writeln!(out, "## {} {}\n", r.id, r.name);
        let _ = writeln!(out, "| figure | host | python | host / python |");
        let _ = writeln!(out, "|---|---|---|---|");
        let (h, p) = (r.host.as_ref(), r.python.as_ref());
        let unit = h.or(p).map(|f| f.rate_unit).unwrap_or("");
        let lines: [(&str, Getter, usize); 8] = [
            ("throughput", |f| Some(f.rate), 0),
            ("latency p50 (ms)", |f| Some(f.p50_ms), 2),
            ("latency p99 (ms)", |f| Some(f.p99_ms), 2),
            ("peak RSS (MiB)", |f| Some(f.peak_rss_mib), 1),
            ("CPU time (s)", |f| Some(f.cpu_s), 2),
            ("start-up to first view (ms)", |f| f.startup_ms, 0),
            ("idle RSS after start (MiB)", |f| f.idle_rss_mib, 1),
            (
                "cluster: served -> spread and quiet (ms)",
                |f| f.settle_ms,
                0,
            ),
        ];
        for (label, get, digits) in lines {
            let (hv, pv) = (h.and_then(get), p.and_then(get));
            if hv.is_none() && pv.is_none() {
                continue;
            }
            let label = if label == "throughput" {
                format!("throughput ({unit})")
            } else {
                label.to_string()
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} |",
                cell(hv, digits),
                cell(pv, digits),
                ratio(hv, pv)
            );
        }
        let done = |f: Option<&Figures>| {
            f.map(|f| f.done.clone())
                .unwrap_or_else(|| "not run".into())
        };
        let _ = writeln!(out, "| done | {} | {} | |\n", done(h), done(p));
    }
    out
}

use moobius_host::clock::today_utc;
