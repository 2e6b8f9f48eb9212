//! The one piece of shared server state, handed to every request handler and
//! connection task.
//!
//! Ground truth, connection registry and the view-event sender sit behind a
//! single mutex so that a state change and the frames it causes are ordered
//! together. The lock is synchronous and is never held across an `.await`:
//! everything done under it (state edits, `try_send` into writer queues,
//! broadcast sends) is non-blocking.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::hub::Hub;
use super::state::{GroupBounds, State};
use super::view::{SentEvent, ViewEvent};

/// Everything guarded by the lock.
#[derive(Debug)]
pub struct World {
    pub state: State,
    pub hub: Hub,
    pub events: broadcast::Sender<ViewEvent>,
    /// Messages users sent (for the dev page; not a view change).
    pub sent: broadcast::Sender<SentEvent>,
}

impl World {
    /// Announces a view change; having no subscribers is fine.
    pub fn emit(&self, event: ViewEvent) {
        let _ = self.events.send(event);
    }

    /// Announces a message a user sent; having no subscribers is fine.
    pub fn emit_sent(&self, event: SentEvent) {
        let _ = self.sent.send(event);
    }
}

/// Shared by the routers, the connection tasks and `SandboxControl`.
#[derive(Debug)]
pub struct Shared {
    world: Mutex<World>,
    events: broadcast::Sender<ViewEvent>,
    sent: broadcast::Sender<SentEvent>,
    shutdown: watch::Sender<bool>,
    next_conn: AtomicU64,
    /// WebSocket tasks still running (see `LiveSocket` in `ws.rs`).
    live_sockets: AtomicUsize,
    /// Where uploaded files are stored.
    pub files_dir: PathBuf,
    /// Injected faults (`POST /sandbox/faults`).
    pub faults: super::faults::Faults,
    /// What the attached host says about its script (`None`: no host told
    /// us); shown by the dev page.
    pub script_status: watch::Sender<Option<Value>>,
    /// Casts a spell on the attached host (`dev` sets it); the dev page's
    /// spell box uses it.
    pub spell: Mutex<Option<SpellHook>>,
}

/// A spell's answer: `on_spell`'s value, or the line saying why there is
/// none, shown as it is on the dev page (the text is the product).
type SpellAnswer = Result<Value, String>;

type SpellFn = dyn Fn(Value) -> futures_util::future::BoxFuture<'static, SpellAnswer> + Send + Sync;

/// Hands a value to the attached host's `on_spell` and answers its return
/// value or its error.
#[derive(Clone)]
pub struct SpellHook(Arc<SpellFn>);

impl SpellHook {
    pub fn new(
        f: impl Fn(Value) -> futures_util::future::BoxFuture<'static, SpellAnswer>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        SpellHook(Arc::new(f))
    }

    pub async fn cast(&self, value: Value) -> SpellAnswer {
        (self.0)(value).await
    }
}

impl std::fmt::Debug for SpellHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpellHook")
    }
}

impl Shared {
    pub fn new(files_dir: PathBuf, groups: GroupBounds) -> Self {
        let (events, _) = broadcast::channel(1 << 16);
        let (sent, _) = broadcast::channel(1 << 10);
        let (shutdown, _) = watch::channel(false);
        let (script_status, _) = watch::channel(None);
        Self {
            world: Mutex::new(World {
                state: State::with_group_bounds(groups),
                hub: Hub::default(),
                events: events.clone(),
                sent: sent.clone(),
            }),
            events,
            sent,
            shutdown,
            next_conn: AtomicU64::new(1),
            live_sockets: AtomicUsize::new(0),
            files_dir,
            faults: Default::default(),
            script_status,
            spell: Mutex::new(None),
        }
    }

    /// Locks the world. A panic elsewhere while holding the lock must not
    /// take the whole sandbox down, so poisoning is ignored.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ViewEvent> {
        self.events.subscribe()
    }

    /// A receiver of every message a user sends from now on.
    pub fn subscribe_sent(&self) -> broadcast::Receiver<SentEvent> {
        self.sent.subscribe()
    }

    /// A receiver that flips to `true` when the sandbox shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn trigger_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn socket_opened(&self) {
        self.live_sockets.fetch_add(1, Ordering::Relaxed);
    }

    pub fn socket_closed(&self) {
        self.live_sockets.fetch_sub(1, Ordering::Relaxed);
    }

    /// WebSocket connections whose task has not ended yet.
    pub fn live_sockets(&self) -> usize {
        self.live_sockets.load(Ordering::Relaxed)
    }
}
