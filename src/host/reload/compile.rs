//! Hot reload, the compiling half: the next version is compiled off the
//! script threads, which go on serving the running version meanwhile (a
//! big service compiles for seconds). Each script thread gets a compile of
//! its own, made in parallel up to `compile::MAX_COMPILE_THREADS` at once: a
//! compiled Rhai script may reach one thread only (see `script/compile.rs`). All the copies must be ready within
//! `script_limits.compile_timeout_ms`, else the reload is refused with that
//! line and the running version stays. The script threads then only vote
//! and swap (`apply.rs`, `round.rs`).

use crate::host::events::Precompiled;
use crate::script::{compile, CompileOptions};
use std::time::Instant;

/// One [`Precompiled`] per script thread, all of the same kind.
pub(in crate::host) async fn compile(
    opts: CompileOptions,
    threads: usize,
    report_failure: bool,
) -> Vec<Precompiled> {
    let threads = threads.max(1);
    let work =
        tokio::task::spawn_blocking(move || compile_blocking(&opts, threads, report_failure));
    match work.await {
        Ok(copies) => copies,
        Err(e) => failed(threads, format!("the compile stopped: {e}")),
    }
}

fn failed(threads: usize, framed: String) -> Vec<Precompiled> {
    (0..threads)
        .map(|_| Precompiled::Failed(framed.clone()))
        .collect()
}

fn compile_blocking(
    opts: &CompileOptions,
    threads: usize,
    report_failure: bool,
) -> Vec<Precompiled> {
    if std::fs::metadata(&opts.main)
        .map(|m| m.len() == 0)
        .unwrap_or(false)
    {
        tracing::debug!("entry script is empty; waiting for its content");
        return (0..threads).map(|_| Precompiled::EntryEmpty).collect();
    }
    let started = Instant::now();
    // Past `MAX_COMPILE_THREADS` a copy waits for an earlier one to end,
    // within the same bound.
    let pending: Result<Vec<_>, _> = (0..threads)
        .map(|_| compile::start(opts, started))
        .collect();
    let shipped: Result<Vec<_>, _> = pending.and_then(|p| {
        // Every copy is waited for, so no thread is left behind unless it
        // ran over the bound.
        let results: Vec<_> = p.into_iter().map(|c| c.wait(started)).collect();
        results.into_iter().collect()
    });
    match shipped {
        Ok(copies) => copies.into_iter().map(Precompiled::Ready).collect(),
        Err(d) => {
            if !report_failure {
                tracing::debug!("tentative reload failed: {d}");
            }
            failed(threads, opts.framed(&d))
        }
    }
}
