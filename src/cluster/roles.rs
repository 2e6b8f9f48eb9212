//! One node's roles, kept by one thread: its heartbeat, the partitions it
//! owns and, when it wins the election, the gateway.
//!
//! Every `lease / 3` the thread runs the partition keeper (beat, release
//! what is no longer this node's once drained, renew, take) and renews
//! or tries the gateway lease; every [`SETTLING_PACE`] while partitions
//! move to or from this node, and at once when a node joined or left
//! (the node set's epoch, looked at every [`SETTLING_PACE`]). What it
//! holds is published in [`Fences`], which everyone else asks before
//! acting: the consumer before handing an
//! event on, the script thread before running its handler, the link before
//! writing. The answers are by this process's clock (`Held::valid`), so a
//! node that was paused, or cut off from Redis, stops acting on its own
//! before anyone else may take over.

use super::lease::{Held, Holder, Lease};
use super::policy::ElectionCheck;
use super::takeover::PartitionKeeper;
use super::wire::Keys;
use super::{conn::RedisConn, ClusterError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// What this node holds now.
#[derive(Default)]
pub struct Fences {
    gateway: RwLock<Option<Held>>,
    partitions: RwLock<BTreeMap<usize, Held>>,
    leaving: RwLock<BTreeSet<usize>>,
}

impl Fences {
    /// True while this node may act as the gateway.
    pub fn gateway(&self) -> Option<u64> {
        let g = self.gateway.read().unwrap_or_else(PoisonError::into_inner);
        g.as_ref().filter(|h| h.valid()).map(|h| h.token)
    }

    /// True while this node may act for partition `p` under `token`.
    pub fn partition_valid(&self, p: usize, token: u64) -> bool {
        let parts = self
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        parts.get(&p).is_some_and(|h| h.token == token && h.valid())
    }

    /// The partitions to read from: held, valid and not being handed over.
    pub fn readable(&self) -> BTreeMap<usize, u64> {
        let parts = self
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let leaving = self.leaving.read().unwrap_or_else(PoisonError::into_inner);
        parts
            .iter()
            .filter(|(p, h)| h.valid() && !leaving.contains(p))
            .map(|(p, h)| (*p, h.token))
            .collect()
    }

    /// Every partition held (with its token), valid or not.
    pub fn held(&self) -> BTreeMap<usize, u64> {
        let parts = self
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        parts.iter().map(|(p, h)| (*p, h.token)).collect()
    }

    fn set(
        &self,
        gateway: Option<Held>,
        partitions: &BTreeMap<usize, Held>,
        leaving: BTreeSet<usize>,
    ) {
        *self.gateway.write().unwrap_or_else(PoisonError::into_inner) = gateway;
        *self
            .partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner) = partitions.clone();
        *self.leaving.write().unwrap_or_else(PoisonError::into_inner) = leaving;
    }
}

/// What the roles thread saw at its last tick (for the status and the
/// host's gateway role).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleView {
    /// This node's gateway token, while it is the gateway.
    pub gateway: Option<u64>,
    /// Who holds the gateway lease, by Redis.
    pub gateway_holder: Option<Holder>,
    /// Partition -> token, held here.
    pub partitions: BTreeMap<usize, u64>,
    pub live: Vec<String>,
    /// The last tick failed (Redis unreachable): the reason.
    pub error: Option<String>,
}

/// Everything the roles thread needs.
pub struct RolesSetup {
    pub url: crate::config::Secret,
    pub keys: Keys,
    pub node: String,
    pub partitions: usize,
    pub lease: Duration,
    /// True once what was read from partition `p` is handled (see
    /// `PartitionKeeper::tick_draining`).
    pub drained: Arc<dyn Fn(usize) -> bool + Send + Sync>,
    pub fences: Arc<Fences>,
    pub view: tokio::sync::watch::Sender<RoleView>,
    pub stop: Arc<AtomicBool>,
}

/// Starts the roles thread; it releases everything it holds when `stop`
/// turns true.
pub fn spawn(setup: RolesSetup) -> Result<std::thread::JoinHandle<()>, ClusterError> {
    let conn = Arc::new(RedisConn::open(setup.url.expose(), setup.lease)?);
    let keeper = PartitionKeeper::on(
        conn.clone(),
        setup.keys.prefix(),
        &setup.node,
        setup.partitions,
        setup.lease,
    );
    let gateway = Lease::on(
        conn.clone(),
        &setup.keys.gateway(),
        &setup.node,
        setup.lease,
    );
    let election = ElectionCheck::new(conn);
    let look = RedisConn::open(setup.url.expose(), crate::timeouts::ROLES_LOOK)?;
    std::thread::Builder::new()
        .name("cluster-roles".into())
        .spawn(move || run(setup, keeper, gateway, election, look))
        .map_err(|e| ClusterError::Unexpected(format!("cannot start the roles thread: {e}")))
}

/// How often the roles thread ticks while partitions move to or from this
/// node (instead of every `lease / 3`): a partition released by its old
/// owner is taken within this, and one drained is released within this,
/// so a join pauses the moving channels for a fraction of a second more
/// than the old owner takes to notice, not for two more ticks.
const SETTLING_PACE: Duration = Duration::from_millis(100);

fn run(
    setup: RolesSetup,
    mut keeper: PartitionKeeper,
    gateway: Lease,
    mut election: ElectionCheck,
    look: RedisConn,
) {
    let mut held_gateway: Option<Held> = None;
    while !setup.stop.load(Ordering::SeqCst) {
        let started = std::time::Instant::now();
        let outcome = tick(
            &setup,
            &mut keeper,
            &gateway,
            &mut election,
            &mut held_gateway,
        );
        let leaving: BTreeSet<usize> = keeper.leaving().collect();
        setup
            .fences
            .set(held_gateway.clone(), keeper.held(), leaving);
        // Out of the fences now: nothing here acts on them any more.
        if let Err(e) = keeper.release_dropped() {
            tracing::debug!(error = %e, "cluster: a partition not released (its lease will run out)");
        }
        setup.view.send_modify(|v| {
            v.gateway = setup.fences.gateway();
            v.partitions = setup.fences.held();
            v.live = keeper.live().to_vec();
            match outcome {
                Ok(holder) => {
                    v.gateway_holder = holder;
                    v.error = None;
                }
                Err(e) => {
                    if v.error.is_none() {
                        tracing::warn!(error = %e, "cluster: cannot renew the leases; stepping down as they run out");
                    }
                    v.error = Some(e.to_string());
                }
            }
        });
        let every = if keeper.settling() {
            (setup.lease / 3).min(SETTLING_PACE)
        } else {
            setup.lease / 3
        };
        wait_for_next_tick(&setup, &keeper, &look, started + every);
    }
    // Out of the fences first, as on a tick: nothing here acts on what is
    // released, even for the round trips the releases take.
    setup.fences.set(None, &BTreeMap::new(), BTreeSet::new());
    if let Some(h) = held_gateway.take() {
        let _ = gateway.release(&h);
    }
    keeper.release_all();
    setup.view.send_modify(|v| *v = RoleView::default());
}

/// Sleeps until `next`, or until the node set changed (looked at every
/// [`SETTLING_PACE`]) or the node stops. A join reassigns partitions
/// among the old nodes too, not only to the new one: without the look,
/// a partition released for another old node waited for that node's
/// next tick, up to `lease / 3`.
fn wait_for_next_tick(
    setup: &RolesSetup,
    keeper: &PartitionKeeper,
    look: &RedisConn,
    next: std::time::Instant,
) {
    let mut looking = true;
    loop {
        let left = next.saturating_duration_since(std::time::Instant::now());
        // A look may take crate::timeouts::ROLES_LOOK (and as long again to reconnect):
        // none that could push the tick, and its renewals, past `next`.
        if left <= SETTLING_PACE + 2 * crate::timeouts::ROLES_LOOK {
            std::thread::sleep(left);
            return;
        }
        std::thread::sleep(SETTLING_PACE);
        if setup.stop.load(Ordering::SeqCst) {
            return;
        }
        if looking {
            match keeper.nodes_changed(look) {
                Ok(true) => return,
                Ok(false) => {}
                // Redis is slow or away: the tick will say so.
                Err(_) => looking = false,
            }
        }
    }
}

/// One round: the partitions, then the gateway (tried for only while
/// Redis does not evict, `policy.rs`). Returns who holds the gateway lease.
fn tick(
    setup: &RolesSetup,
    keeper: &mut PartitionKeeper,
    gateway: &Lease,
    election: &mut ElectionCheck,
    held: &mut Option<Held>,
) -> Result<Option<Holder>, ClusterError> {
    keeper.tick_draining(|p| (setup.drained)(p))?;
    *held = match held.take() {
        // Renewed when due, as the partitions are (see `renew_due`).
        Some(h) if h.age() < setup.lease / 6 && h.valid() => Some(h),
        Some(h) => match gateway.renew(&h)? {
            Some(renewed) if renewed.valid() => Some(renewed),
            _ => {
                tracing::warn!(
                    token = h.token,
                    "cluster: the gateway lease is lost; stepping down"
                );
                None
            }
        },
        None if !election.allows() => None,
        None => {
            let won = gateway.try_acquire()?;
            if let Some(h) = &won {
                tracing::info!(token = h.token, "cluster: elected gateway");
            }
            won
        }
    };
    gateway.holder()
}

/// Checks that `url` answers, for a clear error at start instead of a
/// node that never joins.
pub fn ping(url: &crate::config::Secret) -> Result<(), ClusterError> {
    let conn = RedisConn::open(url.expose(), crate::timeouts::REDIS_CALL)?;
    conn.query::<String>(&redis::cmd("PING")).map(|_| ())
}

/// Checks that the Redis at `url` never evicts the cluster's keys
/// (`policy.rs`), for a refusal at start.
pub fn check_policy(url: &crate::config::Secret) -> Result<(), ClusterError> {
    let conn = RedisConn::open(url.expose(), crate::timeouts::REDIS_CALL)?;
    super::policy::check(&conn)
}
