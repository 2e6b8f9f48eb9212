//! The WebSocket link to the platform: one task that owns the socket.
//!
//! The link connects, logs in, then multiplexes three things: frames from the
//! outbox (written in order, batched into one flush when several are ready),
//! a heartbeat every 30 s, and frames from the platform (handed on as text).
//! When the socket fails it reconnects with capped exponential back-off and
//! logs in again before anything else is written, re-sending the frames whose
//! write was not confirmed. A link that has heard nothing for two heartbeat
//! intervals is treated as dead (half-open TCP connections are silent).

use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
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
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            heartbeat: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(16),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_batch: 256,
        }
    }
}

enum Outgoing {
    Frame(String),
    Login,
}

/// The handle the host writes through. Cloning it is cheap.
#[derive(Clone)]
pub struct WsLink {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl WsLink {
    /// Queues a frame; frames are written in the order they were queued.
    pub fn send(&self, frame: String) {
        let _ = self.tx.send(Outgoing::Frame(frame));
    }

    /// Sends the login again on the current connection (after a `copy` with
    /// `status: false`).
    pub fn relogin(&self) {
        let _ = self.tx.send(Outgoing::Login);
    }
}

/// Starts the link task. It runs until `shutdown` turns true or every
/// `WsLink` is dropped.
pub fn spawn(
    url: String,
    login: LoginFrame,
    events: mpsc::UnboundedSender<LinkEvent>,
    mut shutdown: watch::Receiver<bool>,
    opts: LinkOptions,
) -> (WsLink, tokio::task::JoinHandle<()>) {
    super::ensure_crypto_provider();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let task = tokio::spawn(async move {
        let mut unsent: VecDeque<String> = VecDeque::new();
        let mut backoff = opts.backoff_min;
        let mut connected_before = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let config = WebSocketConfig::default()
                .max_message_size(Some(16 << 20))
                .max_frame_size(Some(16 << 20));
            let attempt = tokio::time::timeout(
                opts.connect_timeout,
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false),
            );
            let stream = tokio::select! {
                _ = shutdown.changed() => return,
                r = attempt => match r {
                    Ok(Ok((stream, _))) => stream,
                    Ok(Err(e)) => {
                        tracing::warn!(url = %url, error = %e, retry_in = ?backoff, "cannot connect to the platform");
                        if sleep_or_shutdown(&mut shutdown, jitter(backoff)).await { return; }
                        backoff = (backoff * 2).min(opts.backoff_max);
                        continue;
                    }
                    Err(_) => {
                        tracing::warn!(url = %url, retry_in = ?backoff, "connecting to the platform timed out");
                        if sleep_or_shutdown(&mut shutdown, jitter(backoff)).await { return; }
                        backoff = (backoff * 2).min(opts.backoff_max);
                        continue;
                    }
                }
            };
            let (mut sink, mut source) = stream.split();
            // Log in first, then whatever was not confirmed written before.
            let mut first: Vec<String> = vec![login()];
            first.extend(unsent.drain(..));
            if let Err(e) = write_all(&mut sink, &first[..]).await {
                tracing::warn!(error = %e, "connection lost during login");
                unsent.extend(first.into_iter().skip(1));
                if sleep_or_shutdown(&mut shutdown, jitter(backoff)).await {
                    return;
                }
                backoff = (backoff * 2).min(opts.backoff_max);
                continue;
            }
            tracing::info!(url = %url, reconnect = connected_before, "connected to the platform");
            let _ = events.send(LinkEvent::Connected {
                reconnect: connected_before,
            });
            connected_before = true;
            backoff = opts.backoff_min;

            let mut heartbeat =
                tokio::time::interval_at(Instant::now() + opts.heartbeat, opts.heartbeat);
            heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut last_heard = Instant::now();
            let reason: String = loop {
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                    msg = source.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            last_heard = Instant::now();
                            let _ = events.send(LinkEvent::Frame(t.as_str().to_owned()));
                        }
                        Some(Ok(Message::Close(frame))) => break format!("closed by the platform ({frame:?})"),
                        Some(Ok(_)) => last_heard = Instant::now(),
                        Some(Err(e)) => break e.to_string(),
                        None => break "connection closed".into(),
                    },
                    out = rx.recv() => {
                        let Some(out) = out else { return };
                        let mut batch = vec![frame_of(out, &login)];
                        while batch.len() < opts.max_batch {
                            match rx.try_recv() {
                                Ok(o) => batch.push(frame_of(o, &login)),
                                Err(_) => break,
                            }
                        }
                        if let Err(e) = write_all(&mut sink, &batch[..]).await {
                            unsent.extend(batch);
                            break e.to_string();
                        }
                    }
                    _ = heartbeat.tick() => {
                        if last_heard.elapsed() > opts.heartbeat * 2 {
                            break format!("nothing heard for {:?} (half-open connection?)", last_heard.elapsed());
                        }
                        let frame = crate::protocol::outbound::heartbeat(&uuid::Uuid::new_v4().to_string());
                        if let Err(e) = write_all(&mut sink, &[frame]).await {
                            break e.to_string();
                        }
                    }
                }
            };
            tracing::warn!(%reason, unsent = unsent.len(), "platform connection lost; reconnecting");
            if sleep_or_shutdown(&mut shutdown, jitter(opts.backoff_min)).await {
                return;
            }
        }
    });
    (WsLink { tx }, task)
}

fn frame_of(o: Outgoing, login: &LoginFrame) -> String {
    match o {
        Outgoing::Frame(f) => f,
        Outgoing::Login => login(),
    }
}

async fn write_all<S>(
    sink: &mut S,
    frames: &[String],
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    for f in frames {
        sink.feed(Message::text(f.as_str())).await?;
    }
    sink.flush().await
}

/// Sleeps; true when shutdown was requested meanwhile.
async fn sleep_or_shutdown(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = shutdown.changed() => true,
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
    }
}

/// Up to +50% random jitter, so that many hosts do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let extra = rand::random::<f64>() * 0.5;
    d + d.mul_f64(extra)
}
