//! A node following the cluster's deploys (docs/DEPLOY.md, "A cluster"):
//! the Redis state machine of `cluster::deploy` driven with the script
//! threads' two-phase [`Versions`].
//!
//! One thread (`cluster-deploy`) looks every [`LOOK`] at the current
//! version's epoch and the active deploy (one round trip). A deploy in
//! `preparing` is fetched by its SHA-256, verified with this node's
//! `trusted_keys`, prepared on every script thread (a compile error or a
//! throwing `on_reload` in the dry run is this node's veto, with the
//! error), and voted on; then any node may decide it. A new epoch is a
//! commit (or a rollback): the node moves every thread to that version,
//! the prepared one when it has it, or fetches and prepares it first (a
//! node that was not there when it was prepared). During a canary the
//! canary nodes commit first; every node reports its handler counts and
//! judges them (`canary.rs`). A deploy that ends vetoed or rolled back is
//! discarded, or reverted where the canary committed it.
//!
//! The thread blocks in Redis calls and in the steps (it is an OS thread
//! and reaches the script threads through the runtime's handle), so a
//! slow compile delays only the next look.

mod canary;
mod fetch;
mod steps;

use crate::bundle::TrustedKeys;
use crate::cluster::conn::RedisConn;
use crate::cluster::deploy::machine::Deploys;
use crate::cluster::deploy::record::{Record, State};
use crate::cluster::deploy::stats::Side;
use crate::cluster::roles::RoleView;
use crate::cluster::wire::Keys;
use crate::cluster::ClusterError;
use crate::deploy::{CanaryThresholds, HandlerStats, VersionTag};
use crate::host::reload::stage::Versions;
use crate::host::status::{DeployStatus, ScriptStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often a node looks at the epoch and the active deploy: nodes see
/// a commit within this of each other (so they swap within it, plus the
/// swap itself), for one small round trip per node per look.
pub const LOOK: Duration = Duration::from_millis(100);

/// What the follower needs of the node.
pub(in crate::host) struct FollowSetup {
    pub url: crate::config::Secret,
    pub keys: Keys,
    pub node: String,
    pub versions: Versions,
    pub trust: TrustedKeys,
    pub thresholds: CanaryThresholds,
    pub view: watch::Receiver<RoleView>,
    pub status: watch::Sender<ScriptStatus>,
    pub stop: Arc<AtomicBool>,
    pub runtime: tokio::runtime::Handle,
}

/// Starts the follower thread; it ends when `stop` turns true.
pub(in crate::host) fn spawn(
    setup: FollowSetup,
) -> Result<std::thread::JoinHandle<()>, ClusterError> {
    let conn = Arc::new(RedisConn::open(
        setup.url.expose(),
        crate::timeouts::REDIS_CALL,
    )?);
    let deploys = Deploys::new(conn, setup.keys.clone());
    std::thread::Builder::new()
        .name("cluster-deploy".into())
        .spawn(move || Follower::new(setup, deploys).run())
        .map_err(|e| ClusterError::Unexpected(format!("cannot start the deploy thread: {e}")))
}

/// A deploy this node prepared (and, in a canary node, committed).
struct Prepared {
    record: Record,
    tag: VersionTag,
    /// Set when its canary started: this node's side and its counts then.
    side: Option<(Side, Vec<HandlerStats>)>,
    /// The canary moved this node's threads to it already.
    committed: bool,
}

struct Follower {
    s: FollowSetup,
    deploys: Deploys,
    /// The epoch whose version this node runs (`None` before the first look).
    epoch: Option<u64>,
    prepared: Option<Prepared>,
    /// The last deploy this node voted on (or could not).
    voted: Option<String>,
    /// The last active deploy seen ended (no need to read it again).
    ended: Option<String>,
    /// A failing look was logged (once until it works again).
    failing: bool,
}

impl Follower {
    fn new(s: FollowSetup, deploys: Deploys) -> Self {
        Follower {
            s,
            deploys,
            epoch: None,
            prepared: None,
            voted: None,
            ended: None,
            failing: false,
        }
    }

    fn run(mut self) {
        self.publish("running");
        while !self.s.stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            match self.tick() {
                Ok(()) => self.failing = false,
                Err(e) if !self.failing => {
                    self.failing = true;
                    tracing::warn!(error = %e, "deploy: cannot follow the cluster's deploys (retrying)");
                }
                Err(_) => {}
            }
            std::thread::sleep(LOOK.saturating_sub(started.elapsed()));
        }
        let _ = self.deploys.clear_running(&self.s.node);
    }

    fn tick(&mut self) -> Result<(), ClusterError> {
        let (epoch, active) = self.deploys.look()?;
        if self.epoch != Some(epoch) {
            self.follow_current(epoch)?;
        }
        match active {
            Some(id) if self.ended.as_deref() != Some(id.as_str()) => self.on_active(&id),
            _ => Ok(()),
        }
    }

    /// The active deploy, as it stands.
    fn on_active(&mut self, id: &str) -> Result<(), ClusterError> {
        let Some(record) = self.deploys.record(id)? else {
            return Ok(());
        };
        match record.state {
            State::Preparing => {
                if self.voted.as_deref() != Some(id) {
                    self.voted = Some(id.to_string());
                    self.prepare_and_vote(record)?;
                }
                self.deploys.decide(id, &self.live())?;
            }
            State::Canary { .. } => self.canary(&record)?,
            State::Vetoed { .. } | State::RolledBack { .. } => {
                self.drop_prepared(id);
                self.ended = Some(id.to_string());
            }
            // Its epoch moves this node (`follow_current`).
            State::Committed => self.ended = Some(id.to_string()),
        }
        Ok(())
    }

    /// The live nodes, as the roles thread last saw them.
    fn live(&self) -> Vec<String> {
        self.s.view.borrow().live.clone()
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.s.runtime.block_on(f)
    }

    /// Shows what the node runs in `/status` (`deploy`) and in Redis (for
    /// `cluster status`), with `state`.
    fn publish(&self, state: &str) {
        let tag = self
            .s
            .versions
            .tags()
            .into_iter()
            .next()
            .unwrap_or_default();
        if let Err(e) =
            self.deploys
                .set_running(&self.s.node, &tag.deploy_id, &tag.sha256, &tag.version)
        {
            tracing::debug!(error = %e, "deploy: cannot record this node's version");
        }
        if tag.is_start() {
            return;
        }
        let shown = DeployStatus {
            id: tag.deploy_id,
            version: tag.version,
            sha256: tag.sha256,
            state: state.into(),
        };
        self.s.status.send_modify(|s| s.deploy = Some(shown));
    }
}
