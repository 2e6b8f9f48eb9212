//! The WebSocket link to the platform: one task that owns the socket.
//!
//! The link's life is the state machine of `link_state.rs` (connecting,
//! logging in, live, backing off, re-authenticating, stopped), published
//! through a `watch` channel; this file does the I/O each state asks for.
//! While connected it multiplexes: frames from the outbox (written in order,
//! several per flush), a heartbeat, and frames from the platform, decoded
//! once (`protocol::inbound`) and handed on as typed events.
//!
//! Nothing is lost to a dropped connection: frames wait in a bounded queue
//! while the link is down, and frames already written stay "in flight" until
//! the platform acknowledges them with a `copy`; after a reconnect (capped
//! exponential back-off with jitter) the link logs in again, then re-sends
//! the unacknowledged frames and the queue, in order. A link that hears
//! nothing for two heartbeat intervals is treated as dead (half-open TCP
//! connections are silent). A refused token or login makes the link sign in
//! again (spaced out when it keeps happening) and reconnect.
//!
//! The link never writes faster than the platform reads. Once the platform
//! is known to acknowledge frames, at most `max_in_flight` frames are written
//! and not yet acknowledged; past that the link stops taking frames and only
//! reads (a platform drops a client that does not read its acknowledgements).
//! The channel into the link is bounded, so a full window holds up the
//! outbox, which holds up the script thread: backpressure, not growth.

mod serve;

use super::link_state::{LinkInput, LinkMachine, LinkState};
use super::queue::{FrameQueue, OutFrame};
use super::HttpApi;
use crate::config::ranges;
use crate::protocol::Inbound;
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// What one socket read may take in. The WebSocket library zeroes this much
/// of its buffer before every read (128 KiB by default), so the default cost
/// more per read than the frames it brought: the platform's frames are a few
/// hundred bytes (acknowledgements, actions), and a larger one grows the
/// buffer to its length while it is read (up to the message size limit).
const READ_BUFFER: usize = 16 << 10;

/// Builds the login frame with the token current at (re)connect time.
pub type LoginFrame = Arc<dyn Fn() -> String + Send + Sync>;

/// What the link reports to the host.
#[derive(Debug)]
pub enum LinkEvent {
    /// Logged in on a fresh connection (the first or a reconnect).
    Connected { reconnect: bool },
    /// One frame from the platform that concerned the connection, decoded.
    Frame(Inbound),
    /// Any other frame from the platform, as text (the host decodes it).
    Text(String),
}

#[derive(Debug, Clone)]
pub struct LinkOptions {
    pub heartbeat: Duration,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Frames are batched up to this many per flush.
    pub max_batch: usize,
    /// Frames kept while the platform is unreachable (then coalesced/dropped).
    pub queue_limit: usize,
    /// Frames written and not yet acknowledged, at most (once the platform
    /// is seen to acknowledge).
    pub max_in_flight: usize,
    /// Frames waiting in the channel into the link, at most.
    pub channel_capacity: usize,
    /// Asked before every write (the login, frames, heartbeats): once it
    /// says no, the link closes the socket and stops without writing. A
    /// cluster's gateway passes its lease's validity here, so that a
    /// gateway paused past its lease writes nothing when it wakes up.
    pub fence: Option<WriteFence>,
}

/// See [`LinkOptions::fence`]: true while the link may write.
#[derive(Clone)]
pub struct WriteFence(pub std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for WriteFence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteFence")
    }
}

/// The config's defaults (`config::ranges`, their one home) for what the
/// config sets; the link's own for the rest.
impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            heartbeat: Duration::from_secs_f64(ranges::DEFAULT_HEARTBEAT_INTERVAL_SECS),
            connect_timeout: crate::timeouts::PLATFORM_CONNECT,
            backoff_min: Duration::from_millis(ranges::DEFAULT_RECONNECT_MIN_MS),
            backoff_max: Duration::from_millis(ranges::DEFAULT_RECONNECT_MAX_MS),
            max_batch: 256,
            queue_limit: ranges::DEFAULT_OUTGOING_QUEUE_LIMIT,
            max_in_flight: 1_024,
            channel_capacity: 1_024,
            fence: None,
        }
    }
}

/// The handle the host writes through. Cloning it is cheap.
#[derive(Clone)]
pub struct WsLink {
    frames: mpsc::Sender<OutFrame>,
    state: watch::Receiver<LinkState>,
}

impl WsLink {
    /// Queues a frame; frames are written in the order they were queued.
    /// Waits while the link's channel is full (the platform reads slower
    /// than frames come); returns at once when the link has stopped.
    pub async fn send(&self, frame: OutFrame) {
        let _ = self.frames.send(frame).await;
    }

    /// The link's state, as it changes.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }
}

/// The request id a successful `copy` acknowledges.
fn acked_id(event: &Inbound) -> Option<&str> {
    match event {
        Inbound::Copy(c) if c.status => c.request_id.as_deref(),
        _ => None,
    }
}

/// Why the platform refused the token or the login, if this frame says so.
fn refusal(event: &Inbound) -> Option<String> {
    match event {
        Inbound::Copy(c) if !c.status => Some(format!(
            "the platform reported a failure ({})",
            c.origin_type.as_deref().unwrap_or("unknown frame")
        )),
        Inbound::Error {
            origin_type,
            message,
        } if matches!(origin_type.as_str(), "service_login" | "user_login") => {
            Some(format!("login refused: {message}"))
        }
        _ => None,
    }
}

/// Where the link connects and how it authenticates.
pub struct LinkTarget {
    /// The platform's WebSocket URL.
    pub url: String,
    /// Makes the login frame (with the current token) for each connection.
    pub login: LoginFrame,
    /// Signs in again when the platform refuses the token.
    pub http: Arc<HttpApi>,
}

struct Link {
    target: LinkTarget,
    events: mpsc::UnboundedSender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
    opts: LinkOptions,
    frames: mpsc::Receiver<OutFrame>,
    machine: LinkMachine,
    state: watch::Sender<LinkState>,
    /// Not written yet.
    pending: FrameQueue,
    /// Written, not acknowledged yet.
    inflight: FrameQueue,
    /// Whether this platform acknowledges frames at all (if not, written
    /// frames count as delivered: re-sending them would duplicate them).
    acks_seen: bool,
    reported_drops: u64,
    /// Frames written to the platform since start (for the closing log line).
    written: u64,
    connected_before: bool,
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a connection ended.
enum Ended {
    Shutdown,
    /// The write fence said no: stop without another write.
    Fenced,
    Dropped(String),
    Refused(String),
}

/// Starts the link task. It runs until `shutdown` turns true or every
/// `WsLink` is dropped.
pub fn spawn(
    target: LinkTarget,
    opts: LinkOptions,
    events: mpsc::UnboundedSender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
) -> (WsLink, tokio::task::JoinHandle<()>) {
    super::ensure_crypto_provider();
    let (frames_tx, frames) = mpsc::channel(opts.channel_capacity.max(1));
    let machine = LinkMachine::new(opts.backoff_min, opts.backoff_max);
    let (state, state_rx) = watch::channel(machine.state().clone());
    let link = Link {
        target,
        events,
        shutdown,
        pending: FrameQueue::new(opts.queue_limit),
        // The window bounds it once acknowledgements are seen: never evict
        // within the window.
        inflight: FrameQueue::new(opts.queue_limit.max(opts.max_in_flight)),
        opts,
        frames,
        machine,
        state,
        acks_seen: false,
        reported_drops: 0,
        written: 0,
        connected_before: false,
    };
    let handle = WsLink {
        frames: frames_tx,
        state: state_rx,
    };
    (handle, tokio::spawn(link.run()))
}

impl Link {
    /// True when the write fence forbids writing.
    fn fenced(&self) -> bool {
        self.opts
            .fence
            .as_ref()
            .is_some_and(|may_write| !(may_write.0)())
    }

    /// Does what each state asks, until the link stops.
    async fn run(mut self) {
        loop {
            let input = match self.machine.state().clone() {
                LinkState::Connecting { .. } => self.connect().await,
                LinkState::LoggingIn | LinkState::Live => {
                    // `connect` keeps the stream for `serve`.
                    LinkInput::Dropped("no connection".into())
                }
                LinkState::Backoff { retry_in, reason } => {
                    tracing::debug!(%reason, retry_in = ?retry_in, "waiting before connecting again");
                    self.report_drops();
                    let wait = self.machine.backoff().jitter(retry_in);
                    if self.wait(wait).await {
                        LinkInput::Waited
                    } else {
                        LinkInput::Shutdown
                    }
                }
                LinkState::ReAuthenticating { delay } => self.reauthenticate(delay).await,
                LinkState::Stopped => {
                    let unacknowledged = self.pending.len() + self.inflight.len();
                    tracing::info!(
                        written = self.written,
                        unacknowledged,
                        "platform connection closed"
                    );
                    return;
                }
            };
            self.step(input);
        }
    }

    /// Moves the state machine and publishes the new state.
    fn step(&mut self, input: LinkInput) {
        let state = self.machine.step(input, std::time::Instant::now()).clone();
        tracing::debug!(state = state.name(), "link state");
        for name in LinkState::NAMES {
            let now = f64::from(u8::from(*name == state.name()));
            metrics::gauge!(crate::metrics::LINK_STATE, "state" => *name).set(now);
        }
        self.state.send_replace(state);
    }

    /// One attempt at connecting and logging in; on success, serves the
    /// connection until it ends, and returns how it ended.
    async fn connect(&mut self) -> LinkInput {
        let stream = match self.open().await {
            Ok(stream) => stream,
            Err(ended) => return ended,
        };
        self.step(LinkInput::Connected);
        let _ = self.events.send(LinkEvent::Connected {
            reconnect: self.connected_before,
        });
        if self.connected_before {
            metrics::counter!(crate::metrics::RECONNECTS).increment(1);
        }
        self.connected_before = true;
        let ended = self.serve(stream).await;
        if let Ended::Dropped(reason) = &ended {
            tracing::warn!(%reason, queued = self.pending.len() + self.inflight.len(), "platform connection lost; reconnecting");
        }
        if self.acks_seen {
            let unacked: Vec<OutFrame> = self.inflight.drain().collect();
            self.pending.requeue_front(unacked.into_iter());
        } else {
            self.inflight.clear();
        }
        match ended {
            Ended::Shutdown => LinkInput::Shutdown,
            Ended::Fenced => {
                tracing::warn!(
                    "no longer allowed to write to the platform (fenced): connection closed"
                );
                LinkInput::Shutdown
            }
            Ended::Dropped(reason) => LinkInput::Dropped(reason),
            Ended::Refused(reason) => LinkInput::Refused(reason),
        }
    }

    /// Signs in again after `delay`, then lets the link reconnect with the
    /// new token (with the old one if signing in failed: never a loop).
    async fn reauthenticate(&mut self, delay: Duration) -> LinkInput {
        tracing::warn!(?delay, "signing in again and reconnecting");
        if !self.wait(delay).await {
            return LinkInput::Shutdown;
        }
        // Keep taking frames meanwhile: an outbox waiting on a full link
        // channel holds HTTP permits that signing in may need.
        let http = self.target.http.clone();
        let sign_in = http.sign_in();
        tokio::pin!(sign_in);
        let result = loop {
            tokio::select! {
                r = &mut sign_in => break r,
                r = self.shutdown.changed() => if r.is_err() || *self.shutdown.borrow() {
                    return LinkInput::Shutdown;
                },
                out = self.frames.recv() => match out {
                    Some(f) => self.pending.push(f),
                    None => return LinkInput::Shutdown,
                },
            }
        };
        match result {
            Ok(()) => tracing::info!("signed in again"),
            Err(e) => {
                tracing::error!(error = %e, "sign-in failed; reconnecting with the old token")
            }
        }
        LinkInput::SignedIn
    }

    fn report_drops(&mut self) {
        let total = self.pending.dropped + self.pending.coalesced;
        if total > self.reported_drops {
            tracing::warn!(
                coalesced = self.pending.coalesced,
                dropped = self.pending.dropped,
                "the outgoing queue was full: superseded view updates coalesced, oldest frames dropped"
            );
            self.reported_drops = total;
        }
    }

    /// Waits `d` while queueing outgoing frames; false on shutdown.
    async fn wait(&mut self, d: Duration) -> bool {
        let sleep = tokio::time::sleep(d);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                r = self.shutdown.changed() => if r.is_err() || *self.shutdown.borrow() { return false },
                _ = &mut sleep => return !*self.shutdown.borrow(),
                out = self.frames.recv() => match out {
                    Some(f) => self.pending.push(f),
                    None => return false,
                },
            }
        }
    }

    /// Opens the WebSocket and sends the login; the error is how the
    /// attempt ends: `Shutdown` (asked to stop, or fenced) or `ConnectFailed`.
    async fn open(&mut self) -> Result<Stream, LinkInput> {
        if *self.shutdown.borrow() || self.fenced() {
            return Err(LinkInput::Shutdown);
        }
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20));
        let attempt = tokio::time::timeout(
            self.opts.connect_timeout,
            // `true`: TCP_NODELAY, so small frames leave at once.
            tokio_tungstenite::connect_async_with_config(
                self.target.url.clone(),
                Some(config),
                true,
            ),
        );
        tokio::pin!(attempt);
        let result = loop {
            tokio::select! {
                r = self.shutdown.changed() => if r.is_err() || *self.shutdown.borrow() { return Err(LinkInput::Shutdown) },
                r = &mut attempt => break r,
                out = self.frames.recv() => match out {
                    Some(f) => self.pending.push(f),
                    None => return Err(LinkInput::Shutdown),
                },
            }
        };
        let mut stream = match result {
            Ok(Ok((stream, _))) => stream,
            Ok(Err(e)) => {
                tracing::warn!(url = %crate::config::shown_url(&self.target.url), error = %e, "cannot connect to the platform");
                return Err(LinkInput::ConnectFailed(e.to_string()));
            }
            Err(_) => {
                tracing::warn!(url = %crate::config::shown_url(&self.target.url), "connecting to the platform timed out");
                return Err(LinkInput::ConnectFailed("connecting timed out".into()));
            }
        };
        if self.fenced() {
            return Err(LinkInput::Shutdown);
        }
        if let Err(e) = stream.send(Message::text((self.target.login)())).await {
            tracing::warn!(error = %e, "connection lost during login");
            return Err(LinkInput::ConnectFailed(e.to_string()));
        }
        tracing::info!(url = %crate::config::shown_url(&self.target.url), "connected to the platform");
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::{acked_id, refusal};
    use crate::protocol::inbound::decode;

    #[test]
    fn only_successful_copies_acknowledge_and_failed_ones_are_refusals() {
        let ok = decode(r#"{"type":"copy","request_id":"x","body":{"request_id":"r1","origin_type":"update","status":true}}"#).unwrap();
        let failed =
            decode(r#"{"type":"copy","body":{"request_id":"r1","status":false}}"#).unwrap();
        assert_eq!(acked_id(&ok), Some("r1"));
        assert_eq!(refusal(&ok), None);
        assert_eq!(acked_id(&failed), None);
        assert!(refusal(&failed).is_some());
        let login = decode(
            r#"{"type":"error","body":{"origin_type":"service_login","message":"bad token"}}"#,
        )
        .unwrap();
        assert_eq!(refusal(&login).as_deref(), Some("login refused: bad token"));
        let other =
            decode(r#"{"type":"error","body":{"origin_type":"update","message":"no"}}"#).unwrap();
        assert_eq!(refusal(&other), None);
    }
}
