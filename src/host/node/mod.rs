//! A host run as a node of a cluster (`cluster` in the config, or
//! `run --cluster URL`; docs/CLUSTER.md).
//!
//! The node starts its script threads as a lone host does, but its
//! outbox appends frames to the `down` stream instead of writing to a
//! socket, and its platform calls are relayed to the gateway. Three
//! threads of `src/cluster/` do the rest: the roles thread (heartbeat,
//! partition leases, the gateway election), the consumer (events of the
//! owned partitions, to the script threads), and, while this node is the
//! elected gateway, the gateway role (`gateway.rs`).

mod deploy;
pub(super) mod gateway;
pub(super) mod wire;

use crate::cluster::consumer::{self, ConsumerSetup, Delivery, Done, Gate, InFlight, Takeover};
use crate::cluster::relay::RedisRelay;
use crate::cluster::roles::{self, Fences, RoleView, RolesSetup};
use crate::cluster::wire::Keys;
use crate::config::{ClusterConfig, Config, ConfigError};
use crate::host::events::{ClusterDelivery, HostEvent};
use crate::host::outbox;
use crate::host::run::{self, Controls, ScriptSide, Started};
use crate::host::threads::shards::EventSender;
use crate::host::{HostError, HostOptions, ServicePaths};
use crate::platform::HttpApi;
use gateway::GatewayRole;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// A cluster's agent lock (see `ExecutorDeps::agent_lock`).
fn agent_lock(config: &Config) -> Option<crate::cluster::lease::Lease> {
    let cluster = config.cluster.as_ref()?;
    let keys = crate::cluster::wire::Keys::new(config.service.service_id.as_deref()?);
    let node = uuid::Uuid::new_v4().to_string();
    crate::cluster::lease::Lease::new(
        cluster.redis_url.expose(),
        &keys.agents(),
        &node,
        AGENT_LOCK_TTL,
    )
    .ok()
}

/// How long the agent lock lasts if its holder dies while holding it.
const AGENT_LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A node's name in the cluster: host name, process id and a random part
/// (a restarted process is a new node).
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..6])
}

/// Runs the node until told to stop: the local part (script threads, an
/// outbox appending to `down`), then the cluster's threads around it, then,
/// once some node is the gateway, the script's start and the consumer.
pub(super) async fn run(
    mut config: Config,
    cluster: ClusterConfig,
    paths: ServicePaths,
    mut options: HostOptions,
    controls: Controls,
) -> Result<(), HostError> {
    if let Some(e) = crate::config::cluster::refusal(&config) {
        return Err(e.into());
    }
    // A store the config does not name is an error, not a private copy.
    config.db_config.implicit_embedded = false;
    config.db_config.implicit_memory = false;
    roles::ping(&cluster.redis_url).map_err(|e| cluster_error(&config, e))?;
    // A Redis that may evict is the operator's to fix, not the author's:
    // exit status 1.
    roles::check_policy(&cluster.redis_url)?;
    let config = Arc::new(config);
    let service_id = config.service.service_id.clone().unwrap_or_default();
    let keys = Keys::new(&service_id);
    let local = Local::start(&config, &cluster, &keys, &paths, &mut options, &controls).await?;
    let joined = Joined::start(&config, &cluster, &keys, &local, &options, &controls)?;
    // on_start may create agents: a gateway must be there to answer.
    wait_for_gateway(joined.view.clone(), controls.stop.clone()).await;
    local.side.executor.send(HostEvent::BeforeChannelInit {
        service_id: service_id.clone(),
    });
    local.side.executor.send(HostEvent::Start);
    let consumer_thread = consumer::spawn(
        ConsumerSetup {
            url: cluster.redis_url.clone(),
            keys,
            node: joined.node.clone(),
            partitions: cluster.partitions,
            fences: joined.fences.clone(),
            in_flight: joined.in_flight.clone(),
            stop: joined.stop_threads.clone(),
            stale_after: cluster.lease * 2,
        },
        Box::new(ToScripts {
            events: local.side.executor.sender(),
            fences: joined.fences.clone(),
        }),
    )
    .map_err(|e| cluster_error(&config, e))?;
    // After the script's start: a version fetched now dry-runs its
    // `on_reload` on the `this` the service built.
    let deploy_thread = deploy::spawn(deploy::FollowSetup {
        url: cluster.redis_url.clone(),
        keys: Keys::new(&service_id),
        node: joined.node.clone(),
        versions: local.side.executor.sender().versions(),
        trust: config.service.trusted_keys.clone(),
        thresholds: config.deploy.thresholds.clone(),
        view: joined.view.clone(),
        status: local.status.clone(),
        stop: joined.stop_threads.clone(),
        runtime: tokio::runtime::Handle::current(),
    })
    .map_err(|e| cluster_error(&config, e))?;
    let _ = controls.serving.send(true);
    let _ = controls.started.send(Started {
        service_id,
        channels: config.service.channels.clone(),
    });
    let mut stop = controls.stop;
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    let _ = controls.serving.send(false);
    tracing::info!("cluster: leaving");
    joined.stop(consumer_thread).await;
    let _ = tokio::task::spawn_blocking(move || deploy_thread.join()).await;
    local.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// What runs in this process whatever its roles: the script threads, and
/// the outbox appending to `down`, with platform calls relayed.
struct Local {
    http: Arc<HttpApi>,
    relay: Arc<dyn crate::platform::relay::CallRelay>,
    side: ScriptSide,
    outbox_task: tokio::task::JoinHandle<()>,
    down_thread: std::thread::JoinHandle<()>,
    status: watch::Sender<crate::host::ScriptStatus>,
}

impl Local {
    async fn start(
        config: &Arc<Config>,
        cluster: &ClusterConfig,
        keys: &Keys,
        paths: &ServicePaths,
        options: &mut HostOptions,
        controls: &Controls,
    ) -> Result<Local, HostError> {
        let http = run::http_api(config)?;
        let relay: Arc<dyn crate::platform::relay::CallRelay> =
            Arc::new(Arc::new(RedisRelay::new(&cluster.redis_url, keys.clone())));
        http.set_relay(Some(relay.clone()));
        let (down, down_thread) = crate::cluster::down::DownWriter::spawn(&cluster.redis_url, keys)
            .map_err(|e| cluster_error(config, e))?;
        let status = options
            .status
            .get_or_insert_with(|| watch::channel(Default::default()).0)
            .clone();
        let (side, outbox_rx) = ScriptSide::start(
            config,
            paths,
            options,
            &http,
            &controls.script,
            agent_lock(config),
        )
        .await?;
        let service_id = config.service.service_id.clone().unwrap_or_default();
        let outbox_task = outbox::spawn(
            http.clone(),
            side.uploader.clone(),
            outbox::FrameSink::Cluster(down),
            service_id,
            outbox_rx,
            options.progress.clone(),
        );
        Ok(Local {
            http,
            relay,
            side,
            outbox_task,
            down_thread,
            status,
        })
    }

    /// The current handler finishes, what the handlers sent is appended.
    async fn stop(self) {
        self.side.stop(self.outbox_task).await;
        let thread = self.down_thread;
        let joined = tokio::task::spawn_blocking(move || thread.join());
        let _ = tokio::time::timeout(crate::timeouts::FLUSH_BOUND, joined).await;
    }
}

/// The cluster's threads and tasks around the local part.
struct Joined {
    node: String,
    stop_threads: Arc<AtomicBool>,
    fences: Arc<Fences>,
    in_flight: Arc<InFlight>,
    view: watch::Receiver<RoleView>,
    roles_thread: std::thread::JoinHandle<()>,
    roles_stop: watch::Sender<bool>,
    gateway_task: tokio::task::JoinHandle<()>,
    publisher: tokio::task::JoinHandle<()>,
}

impl Joined {
    fn start(
        config: &Arc<Config>,
        cluster: &ClusterConfig,
        keys: &Keys,
        local: &Local,
        options: &HostOptions,
        controls: &Controls,
    ) -> Result<Joined, HostError> {
        let node = node_name();
        let stop_threads = Arc::new(AtomicBool::new(false));
        let fences = Arc::new(Fences::default());
        let in_flight = Arc::new(InFlight::default());
        let (view_tx, view) = watch::channel(RoleView::default());
        let drained = {
            let in_flight = in_flight.clone();
            Arc::new(move |p| in_flight.drained(p))
        };
        let roles_thread = roles::spawn(RolesSetup {
            url: cluster.redis_url.clone(),
            keys: keys.clone(),
            node: node.clone(),
            partitions: cluster.partitions,
            lease: cluster.lease,
            drained,
            fences: fences.clone(),
            view: view_tx,
            stop: stop_threads.clone(),
        })
        .map_err(|e| cluster_error(config, e))?;
        tracing::info!(%node, redis = %cluster.shown_url(), partitions = cluster.partitions, lease_ms = cluster.lease.as_millis() as u64, "cluster: joined");
        let parts = NodeParts {
            config: config.clone(),
            cluster: cluster.clone(),
            http: local.http.clone(),
            relay: local.relay.clone(),
            keys: keys.clone(),
            node: node.clone(),
            fences: fences.clone(),
            link_state: controls.link.clone(),
            progress: options.progress.clone(),
        };
        let publisher = tokio::spawn(publish_roles(
            view.clone(),
            local.status.clone(),
            node.clone(),
        ));
        let (roles_stop, roles_stop_rx) = watch::channel(false);
        let gateway_task = tokio::spawn(follow_gateway(parts, view.clone(), roles_stop_rx));
        Ok(Joined {
            node,
            stop_threads,
            fences,
            in_flight,
            view,
            roles_thread,
            roles_stop,
            gateway_task,
            publisher,
        })
    }

    /// Gives every role up (the leases released, the node set left), so
    /// that the others take over at once rather than after a lease.
    async fn stop(self, consumer_thread: std::thread::JoinHandle<()>) {
        self.stop_threads.store(true, Ordering::SeqCst);
        let _ = self.roles_stop.send(true);
        let roles_thread = self.roles_thread;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = consumer_thread.join();
            let _ = roles_thread.join();
        })
        .await;
        let _ = self.gateway_task.await;
        self.publisher.abort();
    }
}

/// A cluster failure at start: the config's when the URL itself is wrong
/// (exit status 2, naming the key), the Redis's otherwise: unreachable or
/// refusing, it is the operator's to fix (exit status 1).
fn cluster_error(config: &Config, e: crate::cluster::ClusterError) -> HostError {
    if e.is_config_mistake() {
        HostError::Config(ConfigError::new(
            &config.source,
            "cluster.redis_url",
            e.to_string(),
        ))
    } else {
        HostError::Cluster(e)
    }
}

/// What the gateway role is built from.
struct NodeParts {
    config: Arc<Config>,
    cluster: ClusterConfig,
    http: Arc<HttpApi>,
    relay: Arc<dyn crate::platform::relay::CallRelay>,
    keys: Keys,
    node: String,
    fences: Arc<Fences>,
    link_state: watch::Sender<crate::platform::LinkState>,
    progress: Option<crate::host::HostProgress>,
}

/// Runs the gateway role whenever this node wins the election, until
/// `stop`.
async fn follow_gateway(
    parts: NodeParts,
    mut view: watch::Receiver<RoleView>,
    stop: watch::Receiver<bool>,
) {
    loop {
        let token = view.borrow_and_update().gateway;
        if let Some(token) = token {
            let role = GatewayRole {
                config: parts.config.clone(),
                cluster: parts.cluster.clone(),
                http: parts.http.clone(),
                relay: parts.relay.clone(),
                keys: parts.keys.clone(),
                node: parts.node.clone(),
                fences: parts.fences.clone(),
                token,
                link_state: parts.link_state.clone(),
                progress: parts.progress.clone(),
            };
            gateway::serve(role, stop.clone()).await;
        }
        if *stop.borrow() {
            return;
        }
        let mut stop = stop.clone();
        tokio::select! {
            r = view.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// Publishes the roles thread's view in the status (the admin endpoint's
/// `/status` and `/readyz`) and the metrics.
async fn publish_roles(
    mut view: watch::Receiver<RoleView>,
    status: watch::Sender<crate::host::ScriptStatus>,
    node: String,
) {
    loop {
        let v = view.borrow_and_update().clone();
        metrics::gauge!(crate::metrics::CLUSTER_GATEWAY)
            .set(f64::from(u8::from(v.gateway.is_some())));
        metrics::gauge!(crate::metrics::CLUSTER_PARTITIONS).set(v.partitions.len() as f64);
        let cluster = crate::host::ClusterStatus {
            node: node.clone(),
            gateway: v.gateway.is_some(),
            gateway_holder: v.gateway_holder.map(|h| format!("{} {}", h.node, h.token)),
            partitions: v.partitions.keys().copied().collect(),
            nodes: v.live,
            error: v.error,
        };
        status.send_if_modified(|st| {
            let changed = st.cluster.as_ref() != Some(&cluster);
            st.cluster = Some(cluster);
            changed
        });
        if view.changed().await.is_err() {
            return;
        }
    }
}

/// Waits until some node holds the gateway lease (or the host stops).
async fn wait_for_gateway(mut view: watch::Receiver<RoleView>, mut stop: watch::Receiver<bool>) {
    let mut told = false;
    loop {
        if view.borrow_and_update().gateway_holder.is_some() || *stop.borrow() {
            return;
        }
        if !told {
            tracing::info!("cluster: waiting for a gateway");
            told = true;
        }
        tokio::select! {
            r = view.changed() => if r.is_err() { return },
            r = stop.changed() => if r.is_err() { return },
        }
    }
}

/// The consumer's events, to the script threads.
struct ToScripts {
    events: EventSender,
    fences: Arc<Fences>,
}

impl ToScripts {
    fn send(&self, at: (usize, u64, &Gate), entry: Option<String>, event: HostEvent, done: &Done) {
        let (partition, token, gate) = at;
        let delivery = ClusterDelivery {
            partition,
            token,
            entry,
            gate: gate.clone(),
            fences: self.fences.clone(),
            done: done.clone(),
        };
        let _ = self.events.send(HostEvent::Clustered {
            event: Box::new(event),
            delivery,
        });
    }
}

impl consumer::Host for ToScripts {
    fn took_over(&mut self, t: Takeover, done: &Done) {
        for ch in t.channels {
            self.send(
                (t.partition, t.token, &t.gate),
                None,
                HostEvent::Checkin(ch),
                done,
            );
        }
    }

    fn deliver(&mut self, d: Delivery, done: &Done) {
        match wire::event_of(d.entry) {
            Some(event) => self.send((d.partition, d.token, &d.gate), Some(d.id), event, done),
            None => done.report(d.partition, d.id, true),
        }
    }
}
