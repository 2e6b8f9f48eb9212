//! The gateway role of a cluster node: the one process that talks to the
//! platform on the service's behalf (docs/CLUSTER.md).
//!
//! While this node holds the gateway lease it runs the platform session
//! (`host/session/`, with the lease) and does three things until the lease
//! is gone or the host stops: every upward event goes to its partition's
//! stream ([`ToStreams`]), every frame of the `down` stream goes to the
//! platform ([`forward_down`]), and the other nodes' platform calls are
//! made here (`cluster::relay::serve`). The link asks the lease before
//! every write, so a gateway that wakes up from a pause past its lease
//! writes nothing.

use crate::cluster::down::{DownReader, Verdict};
use crate::cluster::roles::Fences;
use crate::cluster::up::UpWriter;
use crate::cluster::wire::Keys;
use crate::config::Config;
use crate::host::progress::HostProgress;
use crate::host::session::upward::{ToStreams, Upward};
use crate::host::session::{Connection, Session, StillHeld};
use crate::platform::{HttpApi, LinkEvent, LinkState, OutFrame, WsLink};
use crate::retry::Backoff;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the role needs from its node.
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
    /// True while this node holds the gateway lease it was given.
    fn still_held(&self) -> StillHeld {
        let (fences, token) = (self.fences.clone(), self.token);
        Arc::new(move || fences.gateway() == Some(token))
    }
}

/// Serves as the gateway until the lease is lost or `stop` turns true.
pub(in crate::host) async fn serve(role: GatewayRole, mut stop: watch::Receiver<bool>) {
    let session = Session {
        config: &role.config,
        http: role.http.clone(),
        lease: Some(role.still_held()),
        link_state: role.link_state.clone(),
        progress: role.progress.clone(),
    };
    // Calls made meanwhile still go through the relay (to this node, once
    // it answers): one sign-in, never a second one for a call that found
    // no token.
    let id = match session.sign_in(&mut stop).await {
        Ok(Some(id)) => id,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "gateway: cannot sign in");
            return;
        }
    };
    role.http.set_relay(None);
    match Running::start(&role, &session, &id).await {
        Ok((running, events, served)) => {
            tracing::info!(
                token = role.token,
                channels = served.len(),
                "gateway: serving"
            );
            let upward = Upward::Cluster(running.streams.clone());
            session
                .dispatch(events, upward, &served, None, &mut stop)
                .await;
            tracing::info!(token = role.token, "gateway: stepping down");
            running.stop().await;
        }
        Err(e) => tracing::error!(error = %e, "gateway: cannot start"),
    }
    role.http.set_relay(Some(role.relay.clone()));
}

/// The tasks and threads of a serving gateway.
struct Running {
    streams: ToStreams,
    up_thread: std::thread::JoinHandle<()>,
    serving: watch::Sender<bool>,
    connection: Connection,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    down_task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts the upward appender, the relay's answers, the fenced link and
    /// the `down` reader, then binds the channels. Returns the link's
    /// events and the channels served.
    async fn start(
        role: &GatewayRole,
        session: &Session<'_>,
        id: &str,
    ) -> Result<
        (Running, mpsc::UnboundedReceiver<LinkEvent>, Vec<String>),
        crate::cluster::ClusterError,
    > {
        let url = role.cluster.redis_url.clone();
        let (up, up_thread) = UpWriter::spawn(&url, role.keys.clone(), role.cluster.partitions)?;
        let (serving_tx, serving) = watch::channel(true);
        let holds = role.still_held();
        let relay_task = tokio::spawn(crate::cluster::relay::serve(
            url.clone(),
            role.keys.clone(),
            role.http.clone(),
            serving.clone(),
            holds.clone(),
        ));
        let (connection, events) = session.connect(id);
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let (keys, node) = (role.keys.clone(), role.node.clone());
        let reader_url = url.clone();
        let reader =
            tokio::task::spawn_blocking(move || DownReader::new(&reader_url, &keys, &node))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r.map_err(std::io::Error::other));
        let forwarding = DownForwarding {
            link: connection.link.clone(),
            acks: acks_rx,
            serving,
            holds,
            stale_after: role.cluster.lease * 2,
        };
        let down_task = tokio::spawn(forward_down(reader, forwarding));
        let streams = ToStreams {
            up,
            acks,
            url,
            channels_key: role.keys.channels(),
        };
        let upward = Upward::Cluster(streams.clone());
        let served = session.bind(id, &upward).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "gateway: cannot bind the channels");
            Vec::new()
        });
        let mut tasks = vec![relay_task];
        tasks.extend(session.spawn_timers(&upward, &served));
        let running = Running {
            streams,
            up_thread,
            serving: serving_tx,
            connection,
            tasks,
            down_task,
        };
        Ok((running, events, served))
    }

    /// Stops everything; the link closes without writing what it still
    /// holds (the next gateway sends it: it is still pending in `down`).
    async fn stop(self) {
        let _ = self.serving.send(false);
        self.tasks.iter().for_each(|t| t.abort());
        self.connection.abandon().await;
        let _ = tokio::time::timeout(crate::timeouts::GATEWAY_STOP_GRACE, self.down_task).await;
        drop(self.streams);
        let thread = self.up_thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// What [`forward_down`] works with.
struct DownForwarding {
    link: WsLink,
    /// The platform's acknowledgements (request ids), from the dispatcher.
    acks: mpsc::UnboundedReceiver<String>,
    serving: watch::Receiver<bool>,
    /// True while this node holds the gateway lease: checked before
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
