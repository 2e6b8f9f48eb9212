//! How a deploy ends: promoted (the prepared version committed on the
//! threads not on it yet), back (the threads that moved revert), or
//! vetoed; then recorded in the history, counted in the metrics, shown in
//! the status, and the lock released for the next one.

use super::{files, DeployReport, Deployer, Run};
use crate::deploy::{DeployRecord, Outcome, Veto};
use crate::host::reload::stage::StepError;
use crate::host::status::{now_ms, DeployStatus};
use std::sync::PoisonError;

impl Deployer {
    /// A thread refused to prepare (a veto), or the threads did not answer
    /// (a failure): nothing was swapped either way.
    pub(super) fn vetoed(&self, mut run: Run, e: StepError) -> DeployReport {
        let (at, error) = match e {
            StepError::Thread { thread, error } => (format!("script thread {thread}"), error),
            other => {
                let reason = format!("the version could not be prepared: {other}");
                return self.end(run, Outcome::Failed, Some(reason));
            }
        };
        let reason = format!("vetoed by {at}: {error}");
        run.record.veto = Some(Veto { at, error });
        self.end(run, Outcome::Vetoed, Some(reason))
    }

    /// Commits the prepared version on `rest` (the threads not on it yet)
    /// and ends the deploy as promoted; back to the previous version
    /// everywhere if that fails.
    pub(super) async fn promote(
        &self,
        mut run: Run,
        rest: Vec<usize>,
        note: Option<String>,
    ) -> DeployReport {
        run.notes.extend(note);
        if !rest.is_empty() {
            if let Err(e) = run.versions.commit(&rest).await {
                let reason = format!("the version could not be committed everywhere: {e}");
                return self.back(run, Outcome::Failed, reason).await;
            }
        }
        let _ = run.versions.finish().await;
        let tag = run.record.tag();
        run.versions.pin((!tag.sha256.is_empty()).then_some(tag));
        self.end(run, Outcome::Promoted, None)
    }

    /// Reverts the canary threads (if any moved) and ends the deploy.
    pub(super) async fn back(&self, run: Run, outcome: Outcome, reason: String) -> DeployReport {
        self.show(&run, "rolling_back");
        let tag = run.record.tag();
        let moved: Vec<usize> = (0..run.versions.threads())
            .filter(|&i| run.versions.tags().get(i) == Some(&tag))
            .collect();
        let mut reason = reason;
        if !moved.is_empty() {
            if let Err(e) = run.versions.revert(&moved).await {
                reason = format!("{reason}; reverting failed too: {e}");
            }
        }
        let _ = run.versions.discard().await;
        let _ = run.versions.finish().await;
        self.end(run, outcome, Some(reason))
    }

    /// Ends the deploy: recorded, counted, shown, and the next may start.
    pub(super) fn end(
        &self,
        mut run: Run,
        outcome: Outcome,
        reason: Option<String>,
    ) -> DeployReport {
        run.record.finish(outcome, reason, now_ms());
        self.remember(&run.record);
        metrics::counter!(crate::metrics::DEPLOYS, "outcome" => outcome.name()).increment(1);
        match &run.record.reason {
            Some(why) => {
                tracing::warn!(id = %run.record.id, outcome = outcome.name(), "deploy ended: {why}")
            }
            None => {
                tracing::info!(id = %run.record.id, version = %run.record.version, sha256 = %run.record.sha256, outcome = outcome.name(), "deploy ended")
            }
        }
        let state = outcome.name();
        if outcome == Outcome::Promoted {
            self.show(&run, state);
        } else {
            // What runs is the version before: show the last promoted one.
            let current = self.lock_history().current().cloned();
            self.0.status.send_modify(|s| {
                s.deploy = current.map(|r| DeployStatus {
                    id: r.id,
                    version: r.version,
                    sha256: r.sha256,
                    state: Outcome::Promoted.name().into(),
                });
            });
        }
        *self
            .0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self.0.canary.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.report(&run, state)
    }

    pub(super) fn report(&self, run: &Run, state: &str) -> DeployReport {
        DeployReport {
            record: run.record.clone(),
            state: state.into(),
            threads: run.versions.threads(),
            canary_threads: run.canary_threads.clone(),
            notes: run.notes.clone(),
        }
    }

    pub(super) fn show(&self, run: &Run, state: &str) {
        let shown = DeployStatus {
            id: run.record.id.clone(),
            version: run.record.version.clone(),
            sha256: run.record.sha256.clone(),
            state: state.into(),
        };
        self.0.status.send_modify(|s| s.deploy = Some(shown));
    }

    /// Puts the record in the history and writes it.
    pub(super) fn remember(&self, record: &DeployRecord) {
        let mut history = self.lock_history();
        history.put(record.clone());
        if let Err(e) = files::save(&self.0.opts.data_dir, &history) {
            tracing::error!(error = %e, "cannot write the deploy history");
        }
    }
}
