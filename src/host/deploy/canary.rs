//! Watching a canary: every [`TICK`] the canary threads' handler counters
//! since the canary started are judged against the other threads' over
//! the same time ([`crate::deploy::judge`]), until it says promote or roll
//! back (at the latest when the window ends), or `deploy --rollback` ends
//! it (rolled back). Runs as a task of its own,
//! holding the deploy lock, so the operator's `deploy` may wait for it or
//! leave: the deploy goes on either way.

use super::{Deployer, Run};
use crate::deploy::{judge, HandlerStats, Outcome, Verdict};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often the counters are judged: often enough that a canary failing
/// on every call is rolled back within a fraction of a second, rarely
/// enough to cost nothing (a snapshot is a few hundred atomic loads).
const TICK: Duration = Duration::from_millis(250);

pub(super) async fn watch(
    d: Deployer,
    run: Run,
    marks: Vec<HandlerStats>,
    window: Duration,
    stop: Arc<Notify>,
) {
    let started = tokio::time::Instant::now();
    let thresholds = d.0.opts.config.thresholds.clone();
    let canary = run.canary_threads.len();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.notified() => {
                let reason = "rolled back by the operator (deploy --rollback) during the canary";
                tracing::warn!(id = %run.record.id, "deploy: {reason}");
                d.back(run, Outcome::RolledBack, reason.into()).await;
                return;
            }
        }
        let now = run.versions.stats();
        let (canary_stats, others) = split(&now, &marks, canary);
        let over = started.elapsed() >= window;
        match judge(&canary_stats, others.as_ref(), &thresholds, over) {
            Verdict::Continue => {}
            Verdict::Promote { note } => {
                let rest = (canary..run.versions.threads()).collect();
                tracing::info!(id = %run.record.id, events = canary_stats.events, errors = canary_stats.errors, "deploy: canary promoted");
                d.promote(run, rest, note).await;
                return;
            }
            Verdict::Rollback { reason } => {
                tracing::warn!(id = %run.record.id, "deploy: canary rolled back: {reason}");
                d.back(run, Outcome::RolledBack, reason).await;
                return;
            }
        }
    }
}

/// The canary threads' (the first `canary`) counts since `marks`, and the
/// others' (`None` when every thread is in the canary).
fn split(
    now: &[HandlerStats],
    marks: &[HandlerStats],
    canary: usize,
) -> (HandlerStats, Option<HandlerStats>) {
    let mut c = HandlerStats::default();
    let mut o = HandlerStats::default();
    for (i, (n, m)) in now.iter().zip(marks).enumerate() {
        let since = n.since(m);
        if i < canary {
            c.merge(&since);
        } else {
            o.merge(&since);
        }
    }
    (c, (canary < now.len()).then_some(o))
}
