//! Platform events -> script events, in arrival order.
//!
//! The link has decoded each frame and acted on what concerns the connection
//! (acknowledgements, refused tokens); the rest comes here.
//! Most frames go to the script thread as they are. A `message_up` first has
//! its recipients group expanded into ids (one HTTP call, then cached: a
//! group never changes), so that handlers get `message.recipients` as a list.
//! Expansion happens here, off the script thread, one frame at a time, which
//! keeps the order while the script works on earlier events.

use super::upward::Upward;
use crate::host::events::HostEvent;
use crate::host::progress::HostProgress;
use crate::platform::HttpApi;
use crate::protocol::{inbound, Inbound, MessageUp};
use crate::retry::Backoff;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
/// Expanded groups kept; the cache is simply cleared when it grows past this.
const MAX_CACHED_GROUPS: usize = 10_000;
/// Attempts at expanding a message's recipients before giving up.
const EXPAND_TRIES: u32 = 4;

/// Platform events to script events, for one session.
pub(in crate::host) struct Dispatcher {
    upward: Upward,
    http: Arc<HttpApi>,
    groups: HashMap<String, Vec<String>>,
    /// Counts acknowledged downward frames (see `progress.rs`).
    pub progress: Option<HostProgress>,
}

impl Dispatcher {
    pub fn new(upward: Upward, http: Arc<HttpApi>) -> Self {
        Dispatcher {
            upward,
            http,
            groups: HashMap::new(),
            progress: None,
        }
    }

    /// A frame the link handed on undecoded.
    pub async fn frame(&mut self, text: &str) {
        match inbound::decode(text) {
            Ok(event) => self.event(event).await,
            Err(e) => tracing::warn!(error = %e, "frame dropped"),
        }
    }

    pub async fn event(&mut self, event: Inbound) {
        crate::metrics::EVENTS.add(event.kind());
        match event {
            Inbound::Copy(c) => {
                // What the host sent: a service's updates and messages, a
                // user's actions and messages (user mode).
                let downward = matches!(
                    c.origin_type.as_deref(),
                    Some("update" | "message_down" | "action" | "message_up")
                );
                if let (true, true, Some(p)) = (c.status, downward, &self.progress) {
                    p.downward_acked();
                }
                if let Some(id) = c.request_id {
                    self.upward.acknowledged(id);
                }
            }
            // Login refusals are the link's; others are only worth a line.
            Inbound::Error {
                origin_type,
                message,
            } => {
                if !matches!(origin_type.as_str(), "service_login" | "user_login") {
                    tracing::warn!(%origin_type, %message, "the platform refused a frame");
                }
            }
            Inbound::GatewayError => {
                tracing::warn!("the platform's gateway reported an internal error")
            }
            Inbound::MessageUp(message) => {
                let recipients = self.recipients(&message).await;
                self.upward.send(HostEvent::Message {
                    message,
                    recipients,
                });
            }
            event => {
                self.upward.send(HostEvent::Inbound(event));
            }
        }
    }

    async fn recipients(&mut self, m: &MessageUp) -> Vec<String> {
        let group = match &m.recipients {
            Value::String(g) => g.clone(),
            Value::Array(items) => {
                return items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }
            _ => return Vec::new(),
        };
        if group == "service" {
            return Vec::new();
        }
        if let Some(ids) = self.groups.get(&group) {
            return ids.clone();
        }
        let mut result = self
            .http
            .group_members(&group, &m.channel_id, &m.sender)
            .await;
        let mut backoff = Backoff::PLATFORM_CALL;
        for _ in 1..EXPAND_TRIES {
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(backoff.next()).await;
            result = self
                .http
                .group_members(&group, &m.channel_id, &m.sender)
                .await;
        }
        match result {
            Ok(ids) => {
                if self.groups.len() >= MAX_CACHED_GROUPS {
                    self.groups.clear();
                }
                self.groups.insert(group, ids.clone());
                ids
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not expand a message's recipients; the handler gets an empty list");
                Vec::new()
            }
        }
    }
}
