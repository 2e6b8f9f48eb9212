//! A deploy to a running cluster, kept entirely in Redis (issue 29).
//!
//! Nothing about a deploy lives only in one process: the bundle, the
//! record, the votes and the current version are Redis keys (see
//! [`super::wire::Keys`]), and every state change is one Lua script that
//! compares before it sets. So any node may advance a deploy, and the
//! deploy survives the loss of the node (or CLI) that started it.
//!
//! The states: `preparing` -> (`canary` until T) -> `committed` |
//! `vetoed` | `rolled_back`. Every live node prepares the bundle and votes
//! `ready` or `veto <reason>`; [`machine::Deploys::decide`] commits once
//! every live node voted ready (or starts the canary, on whole nodes:
//! [`record::canary_nodes`]), and aborts on a veto or at the deadline.
//! [`machine::Deploys::judge_canary`] promotes or rolls the canary back
//! with the shared `deploy::canary::judge` over the counts the nodes
//! report ([`stats`]). A commit or rollback bumps the version epoch in
//! `deploy:current`, which nodes watch.
//!
//! This module knows Redis, not the host: a node's wiring to its script
//! threads lives in the host.

pub mod active;
pub mod machine;
pub mod record;
pub mod stats;

/// Committed deploys kept in the history list (and their bundles kept in
/// Redis): enough to roll back several steps, bounded so that bundles do
/// not pile up in Redis's memory.
pub const HISTORY: usize = 10;
