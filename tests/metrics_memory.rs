//! Histograms stay bounded with nobody scraping `/metrics`: a million
//! handler durations recorded the way the host records them (the recorder
//! installed as `run --admin` installs it, `metrics::handler_ran` as the
//! script thread calls it), with no render in between, grow the resident
//! memory by less than 5 MiB. Before, the exporter kept every sample until
//! a scrape (~17 bytes each: ~16 MiB here).
//!
//! A file of its own, so the process's memory is this test's alone. A real
//! host making a million handler calls takes minutes in a debug build; the
//! code path from the handler's timing on is the same.

use std::time::Duration;

const CALLS: u64 = 1_000_000;
const MAX_GROWTH: u64 = 5 * 1024 * 1024;

/// The process's resident memory, from `/proc/self/status`.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn record(calls: u64) {
    for i in 0..calls {
        let elapsed = Duration::from_micros(50 + i % 500);
        moobius_host::metrics::handler_ran("on_message_up", elapsed, None);
    }
}

#[test]
fn a_million_handler_calls_without_a_scrape_keep_memory_flat() {
    let Some(_) = resident_bytes() else {
        println!("SKIP: no /proc/self/status here");
        return;
    };
    assert!(
        moobius_host::metrics::install().is_some(),
        "the recorder installs"
    );
    // Warm up: the handler's handles, the thread's cache, the allocator.
    record(100_000);
    let before = resident_bytes().expect("VmRSS readable");
    record(CALLS);
    let after = resident_bytes().expect("VmRSS readable");
    let growth = after.saturating_sub(before);
    println!(
        "{CALLS} handler durations, no scrape: VmRSS {} -> {} KiB (+{} KiB)",
        before / 1024,
        after / 1024,
        growth / 1024
    );
    assert!(
        growth < MAX_GROWTH,
        "resident memory grew by {} KiB over {CALLS} records without a scrape",
        growth / 1024
    );
}
