//! Platform frames -> script events, in arrival order.
//!
//! Most frames go to the script thread as they are. A `message_up` first has
//! its recipients group expanded into ids (one HTTP call, then cached: a
//! group never changes), so that handlers get `message.recipients` as a list.
//! Expansion happens here, off the script thread, one frame at a time, which
//! keeps the order while the script works on earlier events.

use super::events::HostEvent;
use super::progress::HostProgress;
use crate::platform::{HttpApi, WsLink};
use crate::protocol::{inbound, Inbound, MessageUp};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// At most one re-login per this period, however many `copy` failures arrive
/// (the SDK loops forever on them).
const RELOGIN_MIN_GAP: Duration = Duration::from_secs(5);
const REAUTH_DELAY_MIN: Duration = Duration::from_millis(250);
const REAUTH_DELAY_MAX: Duration = Duration::from_secs(30);
/// Expanded groups kept; the cache is simply cleared when it grows past this.
const MAX_CACHED_GROUPS: usize = 10_000;
/// Attempts at expanding a message's recipients before giving up.
const EXPAND_TRIES: u32 = 4;

pub(super) struct Dispatcher {
    exec: mpsc::UnboundedSender<HostEvent>,
    http: Arc<HttpApi>,
    link: WsLink,
    groups: HashMap<String, Vec<String>>,
    last_relogin: Option<Instant>,
    reauth_delay: Duration,
    /// Counts acknowledged downward frames (see `progress.rs`).
    pub progress: Option<HostProgress>,
}

impl Dispatcher {
    pub fn new(exec: mpsc::UnboundedSender<HostEvent>, http: Arc<HttpApi>, link: WsLink) -> Self {
        Dispatcher {
            exec,
            http,
            link,
            groups: HashMap::new(),
            last_relogin: None,
            reauth_delay: Duration::ZERO,
            progress: None,
        }
    }

    pub async fn frame(&mut self, text: &str) {
        match inbound::decode(text) {
            Ok(Inbound::Copy(c)) if !c.status => {
                let why = format!("the platform reported a failure ({:?})", c.origin_type);
                self.reauthenticate(&why);
            }
            Ok(Inbound::Copy(c)) => {
                let downward = matches!(c.origin_type.as_deref(), Some("update" | "message_down"));
                if let (true, Some(p)) = (downward, &self.progress) {
                    p.downward_acked();
                }
            }
            Ok(Inbound::Error {
                origin_type,
                message,
            }) => {
                if origin_type.contains("login") {
                    self.reauthenticate(&format!("login refused: {message}"));
                } else {
                    tracing::warn!(%origin_type, %message, "the platform refused a frame");
                }
            }
            Ok(Inbound::GatewayError) => {
                tracing::warn!("the platform's gateway reported an internal error")
            }
            Ok(Inbound::MessageUp(message)) => {
                let recipients = self.recipients(&message).await;
                let _ = self.exec.send(HostEvent::Message {
                    message,
                    recipients,
                });
            }
            Ok(event) => {
                let _ = self.exec.send(HostEvent::Inbound(event));
            }
            Err(e) => tracing::warn!(error = %e, "frame dropped"),
        }
    }

    /// Signs in again (the token may have been rejected), then reconnects,
    /// which logs in with the new token and re-sends what was not
    /// acknowledged. Repeated failures are spaced out with a growing delay
    /// (the SDK re-logs in a tight loop; this host never loops, and never
    /// gives up either).
    fn reauthenticate(&mut self, why: &str) {
        let recent = self
            .last_relogin
            .is_some_and(|t| t.elapsed() < RELOGIN_MIN_GAP);
        self.reauth_delay = if recent {
            (self.reauth_delay * 2).clamp(REAUTH_DELAY_MIN, REAUTH_DELAY_MAX)
        } else {
            Duration::ZERO
        };
        self.last_relogin = Some(Instant::now());
        let delay = self.reauth_delay;
        tracing::warn!(why, ?delay, "signing in again and reconnecting");
        let (http, link) = (self.http.clone(), self.link.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            match http.sign_in().await {
                Ok(()) => tracing::info!("signed in again"),
                Err(e) => {
                    tracing::error!(error = %e, "sign-in failed; reconnecting with the old token")
                }
            }
            link.reconnect();
        });
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
        for retry in 1..EXPAND_TRIES {
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25 << retry)).await;
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
