//! Hot reload, the script thread's half: new code between two events, with
//! `this` kept. (What triggers a reload is `reload_trigger.rs`.)
//!
//! The script thread compiles the whole
//! service (entry + imports) in the gap between two events; on success the new
//! version takes over `this` and gets `on_reload()`, on failure the old one
//! keeps running.
//!
//! A request may also bring a new source ([`NewSource`]: a swapped bundle's
//! private directory). The swap is the same; on success the script thread
//! also switches its compile options and the uploader's base directory, so
//! later reloads and relative resource paths follow the new version.

use super::bridge::HostBridge;
use super::events::{ReloadOutcome, ReloadRequest};
use super::status::{now_ms, ScriptStatus};
use crate::script::{CompileOptions, ServiceScript};
use std::rc::Rc;
use std::time::Instant;
use tokio::sync::watch;

/// Runs on the script thread, between two events.
pub(super) fn apply(
    script: &mut ServiceScript,
    bridge: &Rc<HostBridge>,
    opts: &mut CompileOptions,
    status: &watch::Sender<ScriptStatus>,
    req: ReloadRequest,
) {
    let outcome = match &req.source {
        None => compile_and_swap(script, bridge, opts, status, &req),
        Some(source) => {
            let moved = opts.relocated(&source.main, &source.base_dir);
            let outcome = compile_and_swap(script, bridge, &moved, status, &req);
            if matches!(outcome, ReloadOutcome::Reloaded) {
                *opts = moved;
                bridge.uploader.set_base_dir(source.base_dir.clone());
            }
            outcome
        }
    };
    let counted = match outcome {
        ReloadOutcome::Reloaded => Some("ok"),
        ReloadOutcome::Failed => Some("failed"),
        ReloadOutcome::Unchanged | ReloadOutcome::EntryEmpty => None,
    };
    if let Some(outcome) = counted {
        metrics::counter!(crate::metrics::RELOADS, "outcome" => outcome).increment(1);
    }
    if let Some(reply) = req.reply {
        let _ = reply.send(outcome);
    }
}

fn compile_and_swap(
    script: &mut ServiceScript,
    bridge: &Rc<HostBridge>,
    opts: &CompileOptions,
    status: &watch::Sender<ScriptStatus>,
    req: &ReloadRequest,
) -> ReloadOutcome {
    let started = Instant::now();
    if std::fs::metadata(&opts.main)
        .map(|m| m.len() == 0)
        .unwrap_or(false)
    {
        tracing::debug!("entry script is empty; waiting for its content");
        return ReloadOutcome::EntryEmpty;
    }
    let changed: Vec<String> = req.changed.iter().map(|p| opts.display(p)).collect();
    let mut fresh = match ServiceScript::load(opts, bridge.clone()) {
        Ok(s) => s,
        Err(d) => {
            if req.report_failure {
                tracing::error!(changed = ?changed, "reload failed, the previous version keeps running: {d}");
                let framed = opts.framed(&d);
                status.send_modify(|s| s.error = Some(framed));
            } else {
                tracing::debug!("tentative reload failed: {d}");
            }
            return ReloadOutcome::Failed;
        }
    };
    // A new source is a new version even with the same scripts (its
    // resources may differ, and its directory replaces the current one).
    if req.source.is_none() && fresh.same_content(script) {
        tracing::debug!(changed = ?changed, "files changed but the service did not; no reload");
        status.send_modify(|s| s.error = None);
        return ReloadOutcome::Unchanged;
    }
    fresh.adopt_state(script);
    *script = fresh;
    let took = started.elapsed();
    let files = script.display_files(opts);
    let mut version = 0;
    status.send_modify(|s| {
        s.version += 1;
        version = s.version;
        s.loaded_at_ms = now_ms();
        s.files = files;
        s.last_reload_ms = Some(took.as_millis() as u64);
        s.error = None;
    });
    tracing::info!(version, changed = ?changed, took_ms = took.as_secs_f64() * 1000.0, "reloaded");
    match script.call("on_reload", vec![]) {
        Ok(_) => {}
        Err(d) => tracing::error!(handler = "on_reload", "{d}"),
    }
    ReloadOutcome::Reloaded
}
