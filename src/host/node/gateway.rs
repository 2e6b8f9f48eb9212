//! The gateway role of a cluster member: the one process that talks to the
//! platform on the service's behalf (docs/CLUSTER.md).
//!
//! While this member holds the gateway lease it signs in, connects,
//! binds the channels, and then does three things until the lease is gone
//! or the host stops: every upward event goes to its partition's stream
//! (the dispatcher, with `Upward::Cluster`), every frame of the `down`
//! stream goes to the platform ([`forward_down`]), and the other members'
//! platform calls are made here (`cluster::relay::serve`). The link asks
//! the lease before every write, so a gateway that wakes up from a pause
//! past its lease writes nothing.

use crate::cluster::down::{DownReader, Verdict};
use crate::cluster::roles::Fences;
use crate::cluster::up::UpWriter;
use crate::cluster::wire::{Keys, UpEntry};
use crate::config::Config;
use crate::host::progress::HostProgress;
use crate::host::session;
use crate::host::session::dispatch::{Dispatcher, Upward};
use crate::platform::ws::WriteFence;
use crate::platform::{HttpApi, LinkEvent, LinkState, OutFrame, WsLink};
use crate::retry::Backoff;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the role checks that it still holds the lease.
const LEASE_CHECK: Duration = Duration::from_millis(50);

/// What the role needs from its member.
pub(in crate::host) struct GatewayRole {
    pub config: Arc<Config>,
    pub cluster: crate::config::ClusterConfig,
    pub http: Arc<HttpApi>,
    pub relay: Arc<dyn crate::platform::relay::CallRelay>,
    pub keys: Keys,
    pub node: String,
    pub fences: Arc<Fences>,
    pub token: u64,
    pub link_state: watch::Sender<LinkState>,
    pub progress: Option<HostProgress>,
}

impl GatewayRole {
    fn holds(&self) -> bool {
        self.fences.gateway() == Some(self.token)
    }

    fn service_id(&self) -> String {
        self.config.service.service_id.clone().unwrap_or_default()
    }
}

/// Serves as the gateway until the lease is lost or `stop` turns true.
pub(in crate::host) async fn serve(role: GatewayRole, mut stop: watch::Receiver<bool>) {
    // Calls made meanwhile still go through the relay (to this member,
    // once it answers): one sign-in, never a second one for a call that
    // found no token.
    if !sign_in(&role, &mut stop).await {
        return;
    }
    role.http.set_relay(None);
    match Running::start(&role).await {
        Ok((running, link_rx, served)) => {
            let mut dispatcher = Dispatcher::new(
                Upward::Cluster {
                    up: running.up.clone(),
                    acks: running.acks.clone(),
                },
                role.http.clone(),
            );
            dispatcher.progress = role.progress.clone();
            tracing::info!(
                token = role.token,
                channels = served.len(),
                "gateway: serving"
            );
            let up = running.up.clone();
            relay_events(&role, link_rx, &mut dispatcher, &up, &served, &mut stop).await;
            tracing::info!(token = role.token, "gateway: stepping down");
            drop((dispatcher, up));
            running.stop().await;
        }
        Err(e) => tracing::error!(error = %e, "gateway: cannot start"),
    }
    role.http.set_relay(Some(role.relay.clone()));
}

/// The tasks and threads of a serving gateway.
struct Running {
    up: UpWriter,
    up_thread: std::thread::JoinHandle<()>,
    /// The platform's acknowledgements, for the `down` reader.
    acks: mpsc::UnboundedSender<String>,
    serving: watch::Sender<bool>,
    link: WsLink,
    link_task: tokio::task::JoinHandle<()>,
    link_stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    down_task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts the upward appender, the relay's answers, the fenced link and
    /// the `down` reader, then binds the channels. Returns the link's
    /// events and the channels served.
    async fn start(
        role: &GatewayRole,
    ) -> Result<
        (Running, mpsc::UnboundedReceiver<LinkEvent>, Vec<String>),
        crate::cluster::ClusterError,
    > {
        let url = role.cluster.redis_url.clone();
        let (up, up_thread) = UpWriter::spawn(&url, role.keys.clone(), role.cluster.partitions)?;
        let (serving_tx, serving) = watch::channel(true);
        let holds: Arc<dyn Fn() -> bool + Send + Sync> = {
            let (fences, token) = (role.fences.clone(), role.token);
            Arc::new(move || fences.gateway() == Some(token))
        };
        let relay_task = tokio::spawn(crate::cluster::relay::serve(
            url.clone(),
            role.keys.clone(),
            role.http.clone(),
            serving.clone(),
            holds.clone(),
        ));
        let (link_tx, link_rx) = mpsc::unbounded_channel();
        let (link_stop, link_stop_rx) = watch::channel(false);
        let fence = Some(WriteFence(holds.clone()));
        let sid = role.service_id();
        let (link, link_task) =
            session::connect(&role.config, &role.http, &sid, link_tx, link_stop_rx, fence);
        let forwarder = session::forward_link_state(link.state(), role.link_state.clone());
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let (keys, node) = (role.keys.clone(), role.node.clone());
        let reader = tokio::task::spawn_blocking(move || DownReader::new(&url, &keys, &node))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r.map_err(std::io::Error::other));
        let forwarding = DownForwarding {
            link: link.clone(),
            acks: acks_rx,
            serving,
            holds,
            stale_after: role.cluster.lease * 2,
        };
        let down_task = tokio::spawn(forward_down(reader, forwarding));
        let served = bind_channels(role, &up).await;
        let mut tasks = vec![relay_task, forwarder];
        tasks.extend(crate::host::session::tokens::spawn_timers(&role.http));
        tasks.extend(checkin_timer(&role.config, &up, &served));
        let running = Running {
            up,
            up_thread,
            acks,
            serving: serving_tx,
            link,
            link_task,
            link_stop,
            tasks,
            down_task,
        };
        Ok((running, link_rx, served))
    }

    /// Stops everything; the link closes without writing what it still
    /// holds (the next gateway sends it: it is still pending in `down`).
    async fn stop(self) {
        let _ = self.serving.send(false);
        let _ = self.link_stop.send(true);
        self.tasks.iter().for_each(|t| t.abort());
        drop(self.link);
        let _ = tokio::time::timeout(crate::timeouts::GATEWAY_STOP_GRACE, self.link_task).await;
        let _ = tokio::time::timeout(crate::timeouts::GATEWAY_STOP_GRACE, self.down_task).await;
        drop(self.up);
        drop(self.acks);
        let thread = self.up_thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Signs in, retrying while this member holds the lease; false when it
/// stopped holding it (or the host stops) first.
async fn sign_in(role: &GatewayRole, stop: &mut watch::Receiver<bool>) -> bool {
    let mut backoff = Backoff::GATEWAY_SIGN_IN;
    loop {
        match role.http.sign_in().await {
            Ok(()) => {
                tracing::info!(email = %role.config.account.email, "gateway: signed in");
                return true;
            }
            Err(e) => tracing::warn!(error = %e, "gateway: sign-in failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next()) => {}
            _ = stop.changed() => return false,
        }
        if !role.holds() || *stop.borrow() {
            return false;
        }
    }
}

/// Binds the configured channels and queues their first event: `Init` for
/// a channel the cluster never served, `Checkin` (a re-sync) for the rest.
async fn bind_channels(role: &GatewayRole, up: &UpWriter) -> Vec<String> {
    let served = match crate::host::session::channels::select(
        &role.http,
        &role.service_id(),
        &role.config.service,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "gateway: cannot bind the channels");
            return Vec::new();
        }
    };
    let url = role.cluster.redis_url.clone();
    let (key, channels) = (role.keys.channels(), served.clone());
    let added = tokio::task::spawn_blocking(move || -> Vec<bool> {
        let Ok(conn) =
            crate::cluster::conn::RedisConn::open(url.expose(), crate::timeouts::REDIS_CALL)
        else {
            return Vec::new();
        };
        channels
            .iter()
            .map(|ch| {
                conn.query::<i64>(redis::cmd("SADD").arg(&key).arg(ch))
                    .unwrap_or(0)
                    == 1
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    for (i, ch) in served.iter().enumerate() {
        let entry = if added.get(i).copied().unwrap_or(false) {
            UpEntry::Init {
                channel: ch.clone(),
            }
        } else {
            UpEntry::Checkin {
                channel: ch.clone(),
            }
        };
        up.append(Some(ch), &entry);
    }
    served
}

fn checkin_timer(
    config: &Config,
    up: &UpWriter,
    served: &[String],
) -> Option<tokio::task::JoinHandle<()>> {
    let every = config.service.checkin_interval?;
    let (up, served) = (up.clone(), served.to_vec());
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            for ch in &served {
                up.append(
                    Some(ch),
                    &UpEntry::Checkin {
                        channel: ch.clone(),
                    },
                );
            }
        }
    }))
}

/// Hands the link's events to the dispatcher while this member holds the
/// lease; a reconnect re-syncs every channel.
async fn relay_events(
    role: &GatewayRole,
    mut link_rx: mpsc::UnboundedReceiver<LinkEvent>,
    dispatcher: &mut Dispatcher,
    up: &UpWriter,
    served: &[String],
    stop: &mut watch::Receiver<bool>,
) {
    let mut check = tokio::time::interval(LEASE_CHECK);
    loop {
        tokio::select! {
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            _ = check.tick() => if !role.holds() { return },
            event = link_rx.recv() => match event {
                None => return,
                Some(LinkEvent::Connected { reconnect }) => {
                    if reconnect {
                        tracing::info!("gateway: reconnected; re-syncing every channel");
                        for ch in served {
                            up.append(Some(ch), &UpEntry::Checkin { channel: ch.clone() });
                        }
                    }
                }
                Some(LinkEvent::Frame(event)) => dispatcher.event(event).await,
                Some(LinkEvent::Text(text)) => dispatcher.frame(&text).await,
            },
        }
    }
}

/// What [`forward_down`] works with.
struct DownForwarding {
    link: WsLink,
    /// The platform's acknowledgements (request ids), from the dispatcher.
    acks: mpsc::UnboundedReceiver<String>,
    serving: watch::Receiver<bool>,
    /// True while this member holds the gateway lease: checked before
    /// every read, so that a gateway that lost it takes nothing more.
    holds: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Twice the lease: entries another consumer read this long ago and
    /// never acknowledged were stolen by a deposed gateway, and are taken.
    stale_after: Duration,
}

/// Sends the `down` stream's frames to the platform: first what the
/// previous gateway read and did not get acknowledged, then new ones. The
/// reading and acknowledging run on a thread of their own (blocking Redis
/// calls, polled); the frames reach the link through a bounded queue.
async fn forward_down(reader: std::io::Result<DownReader>, f: DownForwarding) {
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "gateway: cannot read the frames to send");
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel::<OutFrame>(DOWN_QUEUE);
    let link = f.link.clone();
    let thread = std::thread::Builder::new()
        .name("cluster-down-read".into())
        .spawn(move || read_down(reader, f, tx));
    if let Err(e) = thread {
        tracing::error!(error = %e, "gateway: cannot start the reader of frames to send");
        return;
    }
    while let Some(frame) = rx.recv().await {
        link.send(frame).await;
    }
}

/// Frames read and not yet handed to the link, at most.
const DOWN_QUEUE: usize = 1024;

/// The reader thread's loop (see [`forward_down`]).
fn read_down(mut reader: DownReader, mut f: DownForwarding, to_link: mpsc::Sender<OutFrame>) {
    let mut first = true;
    let mut last_stale = std::time::Instant::now();
    let mut idle = Backoff::IDLE_POLL;
    let mut failed = Backoff::CLUSTER_REDIS;
    while *f.serving.borrow() && (f.holds)() {
        let mut read = if first {
            reader.claim_pending()
        } else {
            reader.read()
        };
        if last_stale.elapsed() >= f.stale_after / 2 {
            last_stale = std::time::Instant::now();
            if let Ok(entries) = &mut read {
                entries.extend(reader.claim_stale(f.stale_after).unwrap_or_default());
            }
        }
        let entries = match read {
            Ok(entries) => {
                first = false;
                failed.reset();
                entries
            }
            Err(e) => {
                tracing::warn!(error = %e, "gateway: cannot read the frames to send; retrying");
                std::thread::sleep(failed.next());
                continue;
            }
        };
        if entries.is_empty() {
            std::thread::sleep(idle.next());
        } else {
            idle.reset();
        }
        let Some(dropped) = send_entries(&mut reader, &to_link, entries) else {
            return;
        };
        let mut acked = Vec::new();
        while let Ok(rid) = f.acks.try_recv() {
            acked.push(rid);
        }
        if let Err(e) = reader.ack(dropped, acked) {
            tracing::warn!(error = %e, "gateway: cannot acknowledge sent frames");
        }
    }
}

/// Hands the entries the reader lets through to the link; returns the ids
/// of those it dropped (to acknowledge at once), or `None` once the link's
/// side is gone.
fn send_entries(
    reader: &mut DownReader,
    to_link: &mpsc::Sender<OutFrame>,
    entries: Vec<(String, String)>,
) -> Option<Vec<String>> {
    let mut dropped = Vec::new();
    for (id, text) in entries {
        match reader.judge(&id, &text) {
            Verdict::Send(e) => {
                metrics::counter!(crate::metrics::CLUSTER_DOWN_FRAMES, "outcome" => "sent")
                    .increment(1);
                let frame = OutFrame {
                    text: e.text,
                    request_id: e.request_id,
                    coalesce_key: e.coalesce_key,
                };
                to_link.blocking_send(frame).ok()?;
            }
            Verdict::Drop(reason) => {
                metrics::counter!(crate::metrics::CLUSTER_DOWN_FRAMES, "outcome" => reason.outcome())
                    .increment(1);
                tracing::debug!(%id, why = reason.why(), "gateway: frame not sent");
                dropped.push(id);
            }
        }
    }
    Some(dropped)
}
