//! The WebSocket link to the platform: one task that owns the socket.
//!
//! The link connects, logs in, then multiplexes: frames from the outbox
//! (written in order, several per flush), a heartbeat, and frames from the
//! platform (handed on as text). Nothing is lost to a dropped connection:
//! frames wait in a bounded queue while the link is down, and frames already
//! written stay "in flight" until the platform acknowledges them with a `copy`;
//! after a reconnect (capped exponential back-off with jitter) the link logs in
//! again, then re-sends the unacknowledged frames and the queue, in order. A
//! link that hears nothing for two heartbeat intervals is treated as dead
//! (half-open TCP connections are silent).
//!
//! The link never writes faster than the platform reads. Once the platform
//! is known to acknowledge frames, at most `max_in_flight` frames are written
//! and not yet acknowledged; past that the link stops taking frames and only
//! reads (a platform drops a client that does not read its acknowledgements).
//! The channel into the link is bounded, so a full window holds up the
//! outbox, which holds up the script thread: backpressure, not growth.

use super::queue::{FrameQueue, OutFrame};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Builds the login frame with the token current at (re)connect time.
pub type LoginFrame = Arc<dyn Fn() -> String + Send + Sync>;

/// What the link reports to the host.
#[derive(Debug)]
pub enum LinkEvent {
    /// Logged in on a fresh connection (the first or a reconnect).
    Connected { reconnect: bool },
    /// One text frame from the platform.
    Frame(String),
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
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            heartbeat: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(16),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_batch: 256,
            queue_limit: 10_000,
            max_in_flight: 1_024,
            channel_capacity: 1_024,
        }
    }
}

/// Requests about the connection itself (never held up by frames).
enum Control {
    /// Send the login again on the current connection.
    Login,
    /// Drop the connection and start over (after re-authenticating).
    Reconnect,
}

/// The handle the host writes through. Cloning it is cheap.
#[derive(Clone)]
pub struct WsLink {
    frames: mpsc::Sender<OutFrame>,
    control: mpsc::UnboundedSender<Control>,
}

impl WsLink {
    /// Queues a frame; frames are written in the order they were queued.
    /// Waits while the link's channel is full (the platform reads slower
    /// than frames come); returns at once when the link has stopped.
    pub async fn send(&self, frame: OutFrame) {
        let _ = self.frames.send(frame).await;
    }

    /// Sends the login again on the current connection.
    pub fn relogin(&self) {
        let _ = self.control.send(Control::Login);
    }

    /// Reconnects (and so logs in with the current token, then re-sends what
    /// the platform has not acknowledged).
    pub fn reconnect(&self) {
        let _ = self.control.send(Control::Reconnect);
    }
}

#[derive(Deserialize)]
struct AckProbe {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    body: Option<AckBody>,
}

#[derive(Deserialize)]
struct AckBody {
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    status: Option<bool>,
}

/// The request id a `copy` frame acknowledges, if this is a successful one.
fn acked_id(text: &str) -> Option<String> {
    if !text.contains("\"copy\"") {
        return None;
    }
    let probe: AckProbe = serde_json::from_str(text).ok()?;
    let body = probe.body?;
    (probe.kind == "copy" && body.status == Some(true)).then_some(body.request_id?)
}

struct Link {
    url: String,
    login: LoginFrame,
    events: mpsc::UnboundedSender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
    opts: LinkOptions,
    frames: mpsc::Receiver<OutFrame>,
    control: mpsc::UnboundedReceiver<Control>,
    /// Not written yet.
    pending: FrameQueue,
    /// Written, not acknowledged yet.
    inflight: FrameQueue,
    /// Whether this platform acknowledges frames at all (if not, written
    /// frames count as delivered: re-sending them would duplicate them).
    acks_seen: bool,
    reported_drops: u64,
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts the link task. It runs until `shutdown` turns true or every
/// `WsLink` is dropped.
pub fn spawn(
    url: String,
    login: LoginFrame,
    events: mpsc::UnboundedSender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
    opts: LinkOptions,
) -> (WsLink, tokio::task::JoinHandle<()>) {
    super::ensure_crypto_provider();
    let (frames_tx, frames) = mpsc::channel(opts.channel_capacity.max(1));
    let (control_tx, control) = mpsc::unbounded_channel();
    let link = Link {
        url,
        login,
        events,
        shutdown,
        pending: FrameQueue::new(opts.queue_limit),
        inflight: FrameQueue::new(opts.queue_limit),
        opts,
        frames,
        control,
        acks_seen: false,
        reported_drops: 0,
    };
    let handle = WsLink {
        frames: frames_tx,
        control: control_tx,
    };
    (handle, tokio::spawn(link.run()))
}

impl Link {
    async fn run(mut self) {
        let mut backoff = self.opts.backoff_min;
        let mut connected_before = false;
        loop {
            let Some(stream) = self.connect(&mut backoff).await else {
                return;
            };
            let _ = self.events.send(LinkEvent::Connected {
                reconnect: connected_before,
            });
            connected_before = true;
            backoff = self.opts.backoff_min;
            let Some(reason) = self.serve(stream).await else {
                return;
            };
            if self.acks_seen {
                let unacked: Vec<OutFrame> = self.inflight.drain().collect();
                self.pending.requeue_front(unacked.into_iter());
            } else {
                self.inflight.clear();
            }
            tracing::warn!(%reason, queued = self.pending.len(), "platform connection lost; reconnecting");
            self.report_drops();
            if !self.wait(jitter(self.opts.backoff_min)).await {
                return;
            }
        }
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
                _ = self.shutdown.changed() => if *self.shutdown.borrow() { return false },
                _ = &mut sleep => return !*self.shutdown.borrow(),
                out = self.frames.recv() => match out {
                    Some(f) => self.pending.push(f),
                    None => return false,
                },
                // No connection: nothing to log in or reconnect.
                Some(_) = self.control.recv() => {}
            }
        }
    }

    /// Connects and logs in, retrying with back-off; `None` on shutdown.
    async fn connect(&mut self, backoff: &mut Duration) -> Option<Stream> {
        loop {
            if *self.shutdown.borrow() {
                return None;
            }
            let config = WebSocketConfig::default()
                .max_message_size(Some(16 << 20))
                .max_frame_size(Some(16 << 20));
            let url = self.url.clone();
            let attempt = tokio::time::timeout(
                self.opts.connect_timeout,
                // `true`: TCP_NODELAY, so small frames leave at once.
                tokio_tungstenite::connect_async_with_config(url, Some(config), true),
            );
            tokio::pin!(attempt);
            let result = loop {
                tokio::select! {
                    _ = self.shutdown.changed() => if *self.shutdown.borrow() { return None },
                    r = &mut attempt => break r,
                    out = self.frames.recv() => match out {
                        Some(f) => self.pending.push(f),
                        None => return None,
                    },
                    Some(_) = self.control.recv() => {}
                }
            };
            match result {
                Ok(Ok((mut stream, _))) => {
                    if let Err(e) = stream.send(Message::text((self.login)())).await {
                        tracing::warn!(error = %e, "connection lost during login");
                    } else {
                        tracing::info!(url = %self.url, "connected to the platform");
                        return Some(stream);
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(url = %self.url, error = %e, retry_in = ?*backoff, "cannot connect to the platform")
                }
                Err(_) => {
                    tracing::warn!(url = %self.url, retry_in = ?*backoff, "connecting to the platform timed out")
                }
            }
            if !self.wait(jitter(*backoff)).await {
                return None;
            }
            *backoff = (*backoff * 2).min(self.opts.backoff_max);
        }
    }

    /// Runs one connection until it fails (`Some(reason)`) or shutdown (`None`).
    async fn serve(&mut self, stream: Stream) -> Option<String> {
        let (mut sink, mut source) = stream.split();
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + self.opts.heartbeat, self.opts.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut last_ack = Instant::now();
        loop {
            let room = self.window_room();
            // What the platform has not acknowledged (from before a
            // reconnect) goes first, in order, then new frames.
            let backlog = room > 0 && !self.pending.is_empty();
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => if *self.shutdown.borrow() {
                    let _ = sink.send(Message::Close(None)).await;
                    return None;
                },
                msg = source.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        last_heard = Instant::now();
                        if let Some(id) = acked_id(t.as_str()) {
                            self.acks_seen = true;
                            self.inflight.ack(&id);
                            last_ack = last_heard;
                        }
                        let _ = self.events.send(LinkEvent::Frame(t.as_str().to_owned()));
                    }
                    Some(Ok(Message::Close(frame))) => return Some(format!("closed by the platform ({frame:?})")),
                    Some(Ok(_)) => last_heard = Instant::now(),
                    Some(Err(e)) => return Some(e.to_string()),
                    None => return Some("connection closed".into()),
                },
                Some(ctl) = self.control.recv() => match ctl {
                    Control::Login => {
                        if let Err(e) = sink.send(Message::text((self.login)())).await {
                            return Some(e.to_string());
                        }
                    }
                    Control::Reconnect => {
                        let _ = sink.send(Message::Close(None)).await;
                        return Some("reconnect requested".into());
                    }
                },
                () = std::future::ready(()), if backlog => {
                    let n = room.min(self.opts.max_batch);
                    let batch: Vec<OutFrame> = std::iter::from_fn(|| self.pending.pop_front()).take(n).collect();
                    if let Err(e) = self.write(&mut sink, batch).await {
                        return Some(e);
                    }
                }
                out = self.frames.recv(), if room > 0 && !backlog => {
                    let first = out?;
                    let n = room.min(self.opts.max_batch);
                    let mut batch = vec![first];
                    while batch.len() < n {
                        match self.frames.try_recv() {
                            Ok(f) => batch.push(f),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = self.write(&mut sink, batch).await {
                        return Some(e);
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > self.opts.heartbeat * 2 {
                        return Some(format!("nothing heard for {:?} (half-open connection?)", last_heard.elapsed()));
                    }
                    // A full window that the platform stopped acknowledging
                    // would hold every frame back: start over and re-send.
                    if room == 0 && last_ack.elapsed() > self.opts.heartbeat {
                        return Some(format!(
                            "{} frames unacknowledged for {:?}",
                            self.inflight.len(),
                            last_ack.elapsed()
                        ));
                    }
                    let frame = crate::protocol::outbound::heartbeat(&uuid::Uuid::new_v4().to_string());
                    if let Err(e) = sink.send(Message::text(frame)).await {
                        return Some(e.to_string());
                    }
                }
            }
        }
    }

    /// How many more frames may be written before the platform acknowledges
    /// some (unbounded by the window until it is seen to acknowledge).
    fn window_room(&self) -> usize {
        if self.acks_seen {
            self.opts.max_in_flight.saturating_sub(self.inflight.len())
        } else {
            self.opts.max_batch
        }
    }

    /// Writes frames in one flush; they stay in flight until acknowledged.
    /// On failure they go back to the front of the queue.
    async fn write<S>(&mut self, sink: &mut S, frames: Vec<OutFrame>) -> Result<(), String>
    where
        S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    {
        if frames.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        for f in &frames {
            if let Err(e) = sink.feed(Message::text(f.text.as_str())).await {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            result = sink.flush().await;
        }
        match result {
            Ok(()) => {
                for f in frames {
                    self.inflight.push(f);
                }
                Ok(())
            }
            Err(e) => {
                self.pending.requeue_front(frames.into_iter());
                Err(e.to_string())
            }
        }
    }
}

/// Up to +50% random jitter, so that many hosts do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let extra = rand::random::<f64>() * 0.5;
    d + d.mul_f64(extra)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_successful_copies_acknowledge() {
        use super::acked_id;
        let ok = r#"{"type":"copy","request_id":"x","body":{"request_id":"r1","origin_type":"update","status":true}}"#;
        let failed = r#"{"type":"copy","body":{"request_id":"r1","status":false}}"#;
        assert_eq!(acked_id(ok), Some("r1".into()));
        assert_eq!(acked_id(failed), None);
        assert_eq!(
            acked_id(r#"{"type":"action","body":{"text":"copy"}}"#),
            None
        );
    }
}
