//! Deploys: shipping a new version of a service to a running host as one
//! act, observable and reversible (docs/DEPLOY.md).
//!
//! This module is what every side of a deploy shares and none of them owns:
//! the record of a deploy and the bounded history of them ([`record`]), the
//! per-thread handler counters and the canary judgement, a pure function of
//! those counters ([`canary`]), and the thresholds it judges by
//! ([`config`]). It knows nothing of script threads, HTTP or Redis: the lone
//! host (`src/host/deploy/`, behind the admin endpoint) and a cluster
//! (`src/cluster/`) both build on it, so neither has to import the other.

pub mod canary;
pub mod config;
pub mod record;

pub use canary::{judge, AtomicHandlerStats, HandlerStats, Verdict};
pub use config::{CanaryThresholds, DeployConfig};
pub use record::{DeployKind, DeployRecord, History, Outcome, VersionTag, Veto, HISTORY_LIMIT};
