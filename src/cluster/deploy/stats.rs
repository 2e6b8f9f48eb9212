//! Canary and baseline handler counts in Redis: each node writes its own
//! counts since the canary started (overwriting, so a repeated report
//! counts once), and whichever node judges the canary sums those of the
//! nodes still live.

use super::machine::Deploys;
use crate::cluster::ClusterError;
use crate::deploy::canary::HandlerStats;
use std::collections::BTreeMap;

/// Which side of the comparison a node's counts are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Canary,
    Baseline,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Canary => "canary",
            Side::Baseline => "baseline",
        }
    }
}

impl Deploys {
    /// Stores `node`'s counts for deploy `id` (replacing its last report).
    pub fn report_stats(
        &self,
        id: &str,
        node: &str,
        side: Side,
        stats: &HandlerStats,
    ) -> Result<(), ClusterError> {
        let json = serde_json::to_string(stats)
            .map_err(|e| ClusterError::Unexpected(format!("handler stats: {e}")))?;
        let field = format!("{} {node}", side.name());
        self.query_unit(
            redis::cmd("HSET")
                .arg(self.keys().deploy_stats(id))
                .arg(field)
                .arg(json),
        )
    }

    /// The canary's counts and the baseline's (`None` when no node
    /// reported any), summed over the nodes in `live`: a node that left
    /// no longer counts (see [`Deploys::judge_canary`]). An unreadable
    /// report is skipped (a node of another version may write another
    /// shape).
    pub fn stats(
        &self,
        id: &str,
        live: &[String],
    ) -> Result<(HandlerStats, Option<HandlerStats>), ClusterError> {
        let raw: BTreeMap<String, String> =
            self.query(redis::cmd("HGETALL").arg(self.keys().deploy_stats(id)))?;
        let mut canary = HandlerStats::default();
        let mut baseline: Option<HandlerStats> = None;
        for (field, json) in raw {
            let Some((side, node)) = field.split_once(' ') else {
                continue;
            };
            if !live.iter().any(|n| n == node) {
                continue;
            }
            let Ok(s) = serde_json::from_str::<HandlerStats>(&json) else {
                continue;
            };
            if side == Side::Canary.name() {
                canary.merge(&s);
            } else {
                baseline.get_or_insert_with(HandlerStats::default).merge(&s);
            }
        }
        Ok((canary, baseline))
    }
}
