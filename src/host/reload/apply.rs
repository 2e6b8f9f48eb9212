//! Hot reload, the script thread's half: new code between two events, with
//! `this` kept. (What triggers a reload is `trigger.rs`.)
//!
//! The whole service (entry + imports) is compiled off the script threads
//! (`compile.rs`) while they go on serving; the request brings this
//! thread its own copy, and in the gap between two events the new version
//! takes over `this` and gets `on_reload()`. On failure the old one keeps
//! running.
//!
//! With several script threads, every thread compiles and votes, and all
//! swap or none (`round.rs`); thread 0 logs, publishes the status and
//! answers the request.
//!
//! A request may also bring a new source ([`NewSource`]: a swapped bundle's
//! private directory). The swap is the same; on success the script thread
//! also switches its compile options and the uploader's base directory, so
//! later reloads and relative resource paths follow the new version.

use crate::host::bridge::HostBridge;
use crate::host::events::{Precompiled, ReloadRequest};
use crate::host::reload::round::{Decision, ReloadOutcome, ReloadRound, Vote};
use crate::host::status::{now_ms, ScriptStatus};
use crate::host::threads::shared::Place;
use crate::script::{CompileOptions, ServiceScript};
use crate::timeouts::RELOAD_VOTE;
use std::rc::Rc;
use std::time::Instant;
use tokio::sync::watch;

/// What this thread's compile gave.
enum Prepared {
    Fresh(Box<ServiceScript>),
    Unchanged,
    EntryEmpty,
    /// The framed diagnostic.
    Failed(String),
}

impl Prepared {
    fn vote(&self) -> Vote {
        match self {
            Prepared::Fresh(s) => Vote::Ready {
                hash: s.content_hash(),
            },
            Prepared::Unchanged => Vote::Unchanged,
            Prepared::EntryEmpty => Vote::EntryEmpty,
            Prepared::Failed(e) => Vote::Failed(e.clone()),
        }
    }
}

/// Runs on each script thread, between two events. `stopping`: the host
/// is stopping, so this thread votes to keep the running version.
pub(in crate::host) fn apply(
    script: &mut ServiceScript,
    bridge: &Rc<HostBridge>,
    opts: &mut CompileOptions,
    status: &watch::Sender<ScriptStatus>,
    mut req: ReloadRequest,
    place: Place,
    stopping: bool,
) {
    let started = Instant::now();
    let moved = req
        .source
        .as_ref()
        .map(|source| opts.relocated(&source.main, &source.base_dir));
    let compile_opts = moved.as_ref().unwrap_or(opts);
    let prepared = if stopping {
        Prepared::Failed("the host is stopping".into())
    } else {
        prepare(script, bridge, compile_opts, &mut req)
    };
    let vote = prepared.vote();
    let decision = match &req.round {
        Some(round) => round.vote(vote, RELOAD_VOTE),
        None => ReloadRound::new(1).vote(vote, RELOAD_VOTE),
    };
    let changed: Vec<String> = req
        .changed
        .iter()
        .map(|p| compile_opts.display(p))
        .collect();
    let outcome = match (decision, prepared) {
        (Decision::Swap, Prepared::Fresh(mut fresh)) => {
            fresh.adopt_state(script);
            *script = *fresh;
            if let (Some(moved), Some(source)) = (moved, &req.source) {
                *opts = moved;
                bridge.uploader.set_base_dir(source.base_dir.clone());
            }
            if place.leads() {
                publish_new_version(script, opts, status, started, &changed);
            }
            if let Err(d) = script.call("on_reload", vec![]) {
                tracing::error!(handler = "on_reload", "{d}");
            }
            ReloadOutcome::Reloaded
        }
        (Decision::Keep { outcome, error }, _) => {
            if place.leads() {
                report_kept(outcome, error, &req, status, &changed);
            }
            outcome
        }
        (Decision::Swap, _) => ReloadOutcome::Unchanged,
    };
    if place.leads() {
        let counted = match outcome {
            ReloadOutcome::Reloaded => Some("ok"),
            ReloadOutcome::Failed => Some("failed"),
            ReloadOutcome::Unchanged | ReloadOutcome::EntryEmpty => None,
        };
        if let Some(outcome) = counted {
            metrics::counter!(crate::metrics::RELOADS, "outcome" => outcome).increment(1);
        }
    }
    if let Some(reply) = req.reply {
        let _ = reply.send(outcome);
    }
}

/// Builds this thread's engine around its copy of the new version.
fn prepare(
    script: &ServiceScript,
    bridge: &Rc<HostBridge>,
    opts: &CompileOptions,
    req: &mut ReloadRequest,
) -> Prepared {
    let shipped = match req.compiled.pop() {
        Some(Precompiled::Ready(shipped)) => shipped,
        Some(Precompiled::EntryEmpty) => return Prepared::EntryEmpty,
        Some(Precompiled::Failed(framed)) => return Prepared::Failed(framed),
        None => return Prepared::Failed("the reload brought no compiled version".into()),
    };
    let fresh = ServiceScript::from_compiled(shipped, opts, bridge.clone());
    // A new source is a new version even with the same scripts (its
    // resources may differ, and its directory replaces the current one).
    if req.source.is_none() && fresh.same_content(script) {
        return Prepared::Unchanged;
    }
    Prepared::Fresh(Box::new(fresh))
}

/// Thread 0, after every thread swapped: the status and the log line.
fn publish_new_version(
    script: &ServiceScript,
    opts: &CompileOptions,
    status: &watch::Sender<ScriptStatus>,
    started: Instant,
    changed: &[String],
) {
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
        s.errors_at_load = s.handler_errors;
    });
    tracing::info!(version, changed = ?changed, took_ms = took.as_secs_f64() * 1000.0, "reloaded");
}

/// Thread 0, when every thread kept the running version: why.
fn report_kept(
    outcome: ReloadOutcome,
    error: Option<String>,
    req: &ReloadRequest,
    status: &watch::Sender<ScriptStatus>,
    changed: &[String],
) {
    match (outcome, error) {
        (ReloadOutcome::Failed, Some(framed)) if req.report_failure => {
            tracing::error!(changed = ?changed, "reload failed, the previous version keeps running: {framed}");
            status.send_modify(|s| s.error = Some(framed));
        }
        (ReloadOutcome::Unchanged, _) => {
            tracing::debug!(changed = ?changed, "files changed but the service did not; no reload");
            status.send_modify(|s| s.error = None);
        }
        _ => {}
    }
}
