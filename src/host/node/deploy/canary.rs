//! A node during a cluster canary: the canary nodes (the share of the
//! live nodes, whole nodes, the first by name: `record::canary_nodes`)
//! commit the prepared version when they see the canary start; every
//! node then reports its handler counts since then (its side: canary or
//! baseline) on each look, and judges the sums with the shared judge, so
//! that whichever node looks after the window's end (or sees the canary
//! fail early) promotes or rolls it back.

use super::Follower;
use crate::cluster::deploy::record::{canary_nodes, Record};
use crate::cluster::deploy::stats::Side;
use crate::cluster::ClusterError;
use crate::deploy::HandlerStats;

impl Follower {
    pub(super) fn canary(&mut self, record: &Record) -> Result<(), ClusterError> {
        let live = self.live();
        let Some(p) = self.prepared.as_mut().filter(|p| p.record.id == record.id) else {
            // Not prepared here (joined later): judging still helps.
            self.deploys.judge_canary(&record.id, &self.s.thresholds)?;
            return Ok(());
        };
        if p.side.is_none() {
            let marks = self.s.versions.stats();
            if canary_nodes(&live, record.canary_pct).contains(&self.s.node) {
                let all: Vec<usize> = (0..self.s.versions.threads()).collect();
                match self.s.runtime.block_on(self.s.versions.commit(&all)) {
                    Ok(()) => {
                        p.committed = true;
                        p.side = Some((Side::Canary, marks));
                        tracing::info!(deploy = %record.id, "deploy: canary node, running it");
                    }
                    Err(e) => {
                        // Counted as a failed canary: one error, no calls.
                        tracing::error!(deploy = %record.id, "deploy: the canary did not start on this node: {e}");
                        p.side = Some((Side::Canary, Vec::new()));
                    }
                }
                if let Err(e) = self.deploys.swapped(&record.id, &self.s.node) {
                    tracing::debug!(error = %e, "deploy: cannot record the swap time");
                }
                self.publish("canary");
            } else {
                p.side = Some((Side::Baseline, marks));
            }
        }
        if let Some((side, marks)) = self.prepared.as_ref().and_then(|p| p.side.clone()) {
            let counts = self.since(&marks);
            self.deploys
                .report_stats(&record.id, &self.s.node, side, &counts)?;
        }
        self.deploys.judge_canary(&record.id, &self.s.thresholds)?;
        Ok(())
    }

    /// This node's handler counts (every thread) since `marks`; a canary
    /// that could not start counts as one failed call.
    fn since(&self, marks: &[HandlerStats]) -> HandlerStats {
        let mut sum = HandlerStats::default();
        if marks.is_empty() {
            sum.record(std::time::Duration::ZERO, true);
            return sum;
        }
        for (now, mark) in self.s.versions.stats().iter().zip(marks) {
            sum.merge(&now.since(mark));
        }
        sum
    }
}
