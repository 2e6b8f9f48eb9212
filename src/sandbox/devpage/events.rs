//! `GET /sandbox/events`: server-sent events for the dev page.
//!
//! A browser keeps one long request open instead of polling: each change to a
//! member's view arrives as a `view` event (the `ViewEvent` as JSON, so the
//! page re-reads only that member), each message a member sends as a `sent`
//! event (`{"user_id","channel_id"}`: that member's view now lists it under
//! `sent`), each change of the host's script status as a `status` event. The stream opens with the current status. A browser
//! that falls behind the broadcast buffer gets `resync` and re-reads
//! everything; the stream ends when the sandbox shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use crate::sandbox::shared::Shared;
use crate::sandbox::view::{SentEvent, ViewEvent};

/// Comments sent on an idle stream so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What one open stream listens to.
struct Feed {
    views: broadcast::Receiver<ViewEvent>,
    sent: broadcast::Receiver<SentEvent>,
    status: watch::Receiver<Option<Value>>,
    shutdown: watch::Receiver<bool>,
    greeted: bool,
}

pub async fn stream(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = Feed {
        views: shared.subscribe(),
        sent: shared.subscribe_sent(),
        status: shared.script_status.subscribe(),
        shutdown: shared.shutdown_signal(),
        greeted: false,
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

impl Feed {
    /// The next event to send, or `None` to end the stream.
    async fn next(&mut self) -> Option<Event> {
        if !self.greeted {
            self.greeted = true;
            let status = self.status.borrow_and_update().clone();
            return Some(named("status", &json!({ "status": status })));
        }
        tokio::select! {
            received = self.views.recv() => match received {
                Ok(event) => Some(named("view", &event)),
                Err(RecvError::Lagged(_)) => Some(named("resync", &Value::Null)),
                Err(RecvError::Closed) => None,
            },
            sent = self.sent.recv() => match sent {
                Ok(event) => Some(named("sent", &event)),
                Err(RecvError::Lagged(_)) => Some(named("resync", &Value::Null)),
                Err(RecvError::Closed) => None,
            },
            changed = self.status.changed() => {
                changed.ok()?;
                let status = self.status.borrow_and_update().clone();
                Some(named("status", &json!({ "status": status })))
            }
            _ = self.shutdown.wait_for(|stop| *stop) => None,
        }
    }
}

/// An event of type `name` with `data` as JSON (a `resync` if it somehow
/// does not serialise, so the page re-reads instead of missing a change).
fn named<T: Serialize>(name: &str, data: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event("resync").data("null"))
}
