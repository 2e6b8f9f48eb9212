//! A deploy's record and state as stored in its Redis hash.

use std::collections::BTreeMap;

/// Where a deploy stands. Stored as the hash's `state` field (the name
/// below) and `detail` (node and reason, or why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Preparing,
    /// Every live node voted ready; the canary nodes run the new version
    /// until `until_ms` (Redis's clock), then it is judged. `nodes` is the
    /// canary's node set, fixed by the node that made the transition (in
    /// the same compare-and-set), so that every node, even one that joins
    /// meanwhile, judges itself the same way.
    Canary {
        until_ms: u64,
        nodes: Vec<String>,
    },
    Committed,
    Vetoed {
        node: String,
        reason: String,
    },
    RolledBack {
        why: String,
    },
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Preparing => "preparing",
            State::Canary { .. } => "canary",
            State::Committed => "committed",
            State::Vetoed { .. } => "vetoed",
            State::RolledBack { .. } => "rolled_back",
        }
    }

    /// The `detail` field stored next to the name (a canary's: its end,
    /// a space, and its nodes joined by commas; node names have neither).
    pub fn detail(&self) -> String {
        match self {
            State::Vetoed { node, reason } => format!("{node} {reason}"),
            State::RolledBack { why } => why.clone(),
            State::Canary { until_ms, nodes } => format!("{until_ms} {}", nodes.join(",")),
            _ => String::new(),
        }
    }

    /// Whether the deploy has ended (no change follows).
    pub fn ended(&self) -> bool {
        !matches!(self, State::Preparing | State::Canary { .. })
    }

    /// Reads back what [`State::name`] and [`State::detail`] stored; `None`
    /// for a name this version does not know.
    pub fn parse(name: &str, detail: &str) -> Option<State> {
        Some(match name {
            "preparing" => State::Preparing,
            "committed" => State::Committed,
            "canary" => {
                let (until, nodes) = detail.split_once(' ').unwrap_or((detail, ""));
                State::Canary {
                    until_ms: until.parse().ok()?,
                    nodes: nodes
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_string)
                        .collect(),
                }
            }
            "vetoed" => {
                let (node, reason) = detail.split_once(' ').unwrap_or((detail, ""));
                State::Vetoed {
                    node: node.to_string(),
                    reason: reason.to_string(),
                }
            }
            "rolled_back" => State::RolledBack {
                why: detail.to_string(),
            },
            _ => return None,
        })
    }
}

/// What a deploy installs, and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub sha: String,
    pub version: String,
    pub signer: String,
    pub by: String,
    /// When it was started (ms since the epoch, Redis's clock).
    pub at_ms: u64,
    /// When voting ends without every vote (ms since the epoch, Redis's clock).
    pub deadline_ms: u64,
    /// The share of the live nodes (percent, rounded up to whole nodes)
    /// that run the new version first; 0 for no canary.
    pub canary_pct: u32,
    /// How long the canary runs before it is judged.
    pub canary_window_ms: u64,
    pub state: State,
}

impl Record {
    pub(super) fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("sha", self.sha.clone()),
            ("version", self.version.clone()),
            ("signer", self.signer.clone()),
            ("by", self.by.clone()),
            ("at_ms", self.at_ms.to_string()),
            ("deadline_ms", self.deadline_ms.to_string()),
            ("canary_pct", self.canary_pct.to_string()),
            ("canary_window_ms", self.canary_window_ms.to_string()),
            ("state", self.state.name().to_string()),
            ("detail", self.state.detail()),
        ]
    }

    pub(super) fn from_fields(f: &BTreeMap<String, String>) -> Option<Record> {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        Some(Record {
            id: get("id"),
            sha: get("sha"),
            version: get("version"),
            signer: get("signer"),
            by: get("by"),
            at_ms: get("at_ms").parse().ok()?,
            deadline_ms: get("deadline_ms").parse().ok()?,
            canary_pct: get("canary_pct").parse().unwrap_or(0),
            canary_window_ms: get("canary_window_ms").parse().unwrap_or(0),
            state: State::parse(&get("state"), &get("detail"))?,
        })
    }
}

/// A node's vote on a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vote {
    Ready,
    Veto(String),
}

impl Vote {
    pub(super) fn encode(&self) -> String {
        match self {
            Vote::Ready => "ready".into(),
            Vote::Veto(reason) => format!("veto {reason}"),
        }
    }

    pub(super) fn decode(s: &str) -> Vote {
        match s.strip_prefix("veto ") {
            Some(reason) => Vote::Veto(reason.to_string()),
            None if s == "ready" => Vote::Ready,
            None => Vote::Veto(format!("unreadable vote {s:?}")),
        }
    }
}

/// The version the cluster runs: the deploy, its bundle, and the epoch
/// that grows with every change (nodes swap when it changes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Current {
    pub id: String,
    pub sha: String,
    pub epoch: u64,
}

/// The nodes that run a canary: `pct` percent of the live nodes, rounded
/// up to whole nodes (the granularity is a node, with all its script
/// threads), the first by name. Computed once, by the node that moves the
/// deploy to `canary`, and stored in that state ([`State::Canary`]).
pub fn canary_nodes(live: &[String], pct: u32) -> Vec<String> {
    let mut sorted = live.to_vec();
    sorted.sort();
    let n = (sorted.len() * pct.min(100) as usize).div_ceil(100);
    sorted.truncate(n);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_state_keeps_its_nodes() {
        let canary = State::Canary {
            until_ms: 1_700,
            nodes: vec!["h-1-aa".into(), "h-2-bb".into()],
        };
        let back = State::parse(canary.name(), &canary.detail());
        assert_eq!(back, Some(canary));
        // A record written before the set was stored: no canary node.
        assert_eq!(
            State::parse("canary", "1700"),
            Some(State::Canary {
                until_ms: 1_700,
                nodes: Vec::new()
            })
        );
        assert_eq!(State::parse("canary", "soon a,b"), None);
    }
}
