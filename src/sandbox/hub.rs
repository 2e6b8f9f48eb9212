//! Who is connected: the live WebSocket connection of each service and of
//! each user.
//!
//! Each connection has one writer task fed by a bounded queue, so frames to a
//! connection keep their order and a send never blocks the shared lock. A
//! client that stops reading fills its queue; it is then disconnected rather
//! than letting memory grow or frames be dropped silently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, Notify};

/// Frames queued per connection before it is considered stuck.
pub const QUEUE_CAPACITY: usize = 4096;

/// What a connection's writer task is asked to do.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    /// A close frame with this code and reason; the writer stops after it.
    Close(u16, String),
}

/// A handle to one connection's writer queue.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub id: u64,
    tx: mpsc::Sender<Outgoing>,
    kill: Arc<Notify>,
    /// A paused connection neither reads nor writes (fault injection).
    pub paused: Arc<AtomicBool>,
}

impl ConnHandle {
    pub fn new(
        id: u64,
        tx: mpsc::Sender<Outgoing>,
        kill: Arc<Notify>,
        paused: Arc<AtomicBool>,
    ) -> Self {
        Self {
            id,
            tx,
            kill,
            paused,
        }
    }

    /// Closes the connection at once (fault injection, or a stuck reader).
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Queues a frame; false if the connection is gone or stuck (a stuck
    /// connection is told to close).
    pub fn send(&self, frame: &Value) -> bool {
        self.queue(Outgoing::Text(frame.to_string()))
    }

    pub fn queue(&self, item: Outgoing) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    conn = self.id,
                    "connection is not reading; disconnecting it"
                );
                self.kill.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// The registry of logged-in connections.
#[derive(Debug, Default)]
pub struct Hub {
    services: HashMap<String, ConnHandle>,
    users: HashMap<String, Vec<ConnHandle>>,
}

impl Hub {
    /// Makes `conn` the service's connection, replacing an older one.
    pub fn set_service(&mut self, service_id: &str, conn: ConnHandle) {
        if let Some(old) = self.services.insert(service_id.to_string(), conn.clone()) {
            if old.id != conn.id {
                tracing::info!(
                    service_id,
                    old = old.id,
                    new = conn.id,
                    "service connection replaced"
                );
            }
        }
    }

    /// Adds `conn` to the user's connections (a user may have several tabs).
    pub fn add_user(&mut self, user_id: &str, conn: ConnHandle) {
        let conns = self.users.entry(user_id.to_string()).or_default();
        if !conns.iter().any(|c| c.id == conn.id) {
            conns.push(conn);
        }
    }

    pub fn service(&self, service_id: &str) -> Option<&ConnHandle> {
        self.services.get(service_id)
    }

    pub fn users(&self, user_id: &str) -> &[ConnHandle] {
        self.users.get(user_id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every logged-in connection, services first.
    pub fn all(&self) -> Vec<ConnHandle> {
        let mut all: Vec<ConnHandle> = self.services.values().cloned().collect();
        for conns in self.users.values() {
            all.extend(conns.iter().cloned());
        }
        all
    }

    /// How many connections are registered (logged in), services and
    /// users together.
    pub fn registered(&self) -> usize {
        self.services.len() + self.users.values().map(Vec::len).sum::<usize>()
    }

    /// Forgets every registration of a closed connection.
    pub fn remove_conn(&mut self, conn_id: u64) {
        self.services.retain(|_, c| c.id != conn_id);
        for conns in self.users.values_mut() {
            conns.retain(|c| c.id != conn_id);
        }
        self.users.retain(|_, conns| !conns.is_empty());
    }
}
