//! One live connection: reading and writing until it ends. The link's
//! life around it (connecting, backing off, signing in again) is in
//! `ws.rs`; this is the part that runs while connected, where the in-flight
//! window, acknowledgements, silence detection and write batching live.

use super::{acked_id, refusal, Ended, Link, LinkEvent, Stream};
use crate::platform::link_state::{LinkInput, LinkState};
use crate::platform::queue::OutFrame;
use crate::protocol::inbound;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

impl Link {
    /// Handles one frame from the platform: acknowledgements release frames
    /// in flight, the first frame makes the link live, a refusal ends the
    /// connection, and everything goes on to the host, decoded.
    fn received(&mut self, text: &str) -> Option<Ended> {
        if !inbound::may_concern_connection(text) {
            if self.machine.state() == &LinkState::LoggingIn {
                self.step(LinkInput::Heard);
            }
            let _ = self.events.send(LinkEvent::Text(text.to_owned()));
            return None;
        }
        let event = match inbound::decode(text) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "frame dropped");
                return None;
            }
        };
        if let Some(why) = refusal(&event) {
            let _ = self.events.send(LinkEvent::Frame(event));
            return Some(Ended::Refused(why));
        }
        // Only an acknowledgement of a frame in flight shows that this
        // platform acknowledges frames (not one of a heartbeat or a login).
        if let Some(id) = acked_id(&event) {
            if self.inflight.ack(id) {
                self.acks_seen = true;
                crate::metrics::IN_FLIGHT.set(self.inflight.len() as f64);
            }
        }
        if self.machine.state() == &LinkState::LoggingIn {
            self.step(LinkInput::Heard);
        }
        let _ = self.events.send(LinkEvent::Frame(event));
        None
    }

    /// Nothing left to write, and nothing written waits for an
    /// acknowledgement (when this platform acknowledges at all).
    fn flushed(&self) -> bool {
        self.pending.is_empty() && (self.inflight.is_empty() || !self.acks_seen)
    }

    /// Runs one connection until it ends.
    pub(super) async fn serve(&mut self, stream: Stream) -> Ended {
        let (mut sink, mut source) = stream.split();
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + self.opts.heartbeat, self.opts.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut last_ack = Instant::now();
        let mut draining = false;
        loop {
            let room = self.window_room();
            // What the platform has not acknowledged (from before a
            // reconnect) goes first, in order, then new frames.
            let backlog = room > 0 && !self.pending.is_empty();
            tokio::select! {
                biased;
                r = self.shutdown.changed() => if r.is_err() || *self.shutdown.borrow() {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ended::Shutdown;
                },
                msg = source.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        last_heard = Instant::now();
                        let inflight = self.inflight.len();
                        if let Some(ended) = self.received(t.as_str()) {
                            let _ = sink.send(Message::Close(None)).await;
                            return ended;
                        }
                        if self.inflight.len() < inflight {
                            last_ack = last_heard;
                        }
                        if draining && self.flushed() {
                            let _ = sink.send(Message::Close(None)).await;
                            return Ended::Shutdown;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return Ended::Dropped(format!("closed by the platform ({frame:?})")),
                    Some(Ok(_)) => last_heard = Instant::now(),
                    Some(Err(e)) => return Ended::Dropped(e.to_string()),
                    None => return Ended::Dropped("connection closed".into()),
                },
                () = std::future::ready(()), if backlog => {
                    let n = room.min(self.opts.max_batch);
                    let batch: Vec<OutFrame> = std::iter::from_fn(|| self.pending.pop_front()).take(n).collect();
                    // The acknowledgement clock starts when frames go in flight.
                    if self.inflight.is_empty() {
                        last_ack = Instant::now();
                    }
                    if let Err(ended) = self.write(&mut sink, batch).await {
                        return ended;
                    }
                    if draining && self.flushed() {
                        let _ = sink.send(Message::Close(None)).await;
                        return Ended::Shutdown;
                    }
                }
                out = self.frames.recv(), if room > 0 && !backlog && !draining => {
                    // Every sender is gone (the host is stopping): wait for
                    // the platform to acknowledge what was written, then close.
                    let Some(first) = out else {
                        draining = true;
                        if self.flushed() {
                            let _ = sink.send(Message::Close(None)).await;
                            return Ended::Shutdown;
                        }
                        continue;
                    };
                    let n = room.min(self.opts.max_batch);
                    let mut batch = vec![first];
                    while batch.len() < n {
                        match self.frames.try_recv() {
                            Ok(f) => batch.push(f),
                            Err(_) => break,
                        }
                    }
                    // The acknowledgement clock starts when frames go in flight.
                    if self.inflight.is_empty() {
                        last_ack = Instant::now();
                    }
                    if let Err(ended) = self.write(&mut sink, batch).await {
                        return ended;
                    }
                }
                _ = heartbeat.tick() => {
                    if let Some(why) = self.silent(last_heard, last_ack, room) {
                        return Ended::Dropped(why);
                    }
                    if self.fenced() {
                        return Ended::Fenced;
                    }
                    let frame = crate::protocol::outbound::heartbeat(&uuid::Uuid::new_v4().to_string());
                    if let Err(e) = sink.send(Message::text(frame)).await {
                        return Ended::Dropped(e.to_string());
                    }
                }
            }
        }
    }

    /// Why the connection must be given up at a heartbeat, if it must: nothing
    /// heard for two intervals (a half-open connection is silent), or a full
    /// window the platform stopped acknowledging (which would hold every frame
    /// back: starting over re-sends them).
    fn silent(&self, last_heard: Instant, last_ack: Instant, room: usize) -> Option<String> {
        if last_heard.elapsed() > self.opts.heartbeat * 2 {
            return Some(format!(
                "nothing heard for {:?} (half-open connection?)",
                last_heard.elapsed()
            ));
        }
        if room == 0 && last_ack.elapsed() > self.opts.heartbeat {
            return Some(format!(
                "{} frames unacknowledged for {:?}",
                self.inflight.len(),
                last_ack.elapsed()
            ));
        }
        None
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
    /// On failure they go back to the front of the queue, and the error is
    /// how the connection ends: `Fenced` when the fence forbids writing (the
    /// socket is then dropped without a close handshake, which would flush
    /// what was fed and not yet written), `Dropped` when the socket failed.
    async fn write<S>(&mut self, sink: &mut S, frames: Vec<OutFrame>) -> Result<(), Ended>
    where
        S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    {
        if frames.is_empty() {
            return Ok(());
        }
        if self.fenced() {
            // A fenced link stops: these are the new gateway's to send (they
            // are still pending in `down`).
            self.pending.requeue_front(frames.into_iter());
            return Err(Ended::Fenced);
        }
        // A half-open connection with a full send buffer would block a
        // flush until TCP gives up: give up after two heartbeat intervals.
        let stall = self.opts.heartbeat * 2;
        // The fence is asked before each frame, not once per batch: a
        // gateway paused in the middle of a batch writes at most the frame
        // it was writing when it wakes up.
        let fence = self.opts.fence.clone();
        let written = tokio::time::timeout(stall, async {
            for f in &frames {
                if fence.as_ref().is_some_and(|may_write| !(may_write.0)()) {
                    return Ok(false);
                }
                sink.feed(Message::text(f.text.as_str())).await?;
            }
            sink.flush().await.map(|()| true)
        })
        .await;
        match written {
            Ok(Ok(false)) => {
                self.pending.requeue_front(frames.into_iter());
                Err(Ended::Fenced)
            }
            Ok(Ok(true)) => {
                self.written += frames.len() as u64;
                for f in frames {
                    self.inflight.push(f);
                }
                crate::metrics::IN_FLIGHT.set(self.inflight.len() as f64);
                Ok(())
            }
            Ok(Err(e)) => {
                self.pending.requeue_front(frames.into_iter());
                Err(Ended::Dropped(e.to_string()))
            }
            Err(_) => {
                self.pending.requeue_front(frames.into_iter());
                Err(Ended::Dropped(format!("writing stalled for {stall:?}")))
            }
        }
    }
}
