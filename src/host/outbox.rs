//! The outbox: downward events from scripts, in the order scripts made them,
//! turned into wire frames.
//!
//! Scripts speak in lists of ids and local file paths; the wire speaks in
//! group ids and URLs. This task owns the group cache, converts each list
//! (one HTTP call on a miss, none on a hit), uploads local files (once per
//! content), and hands the finished frame to the link, which keeps the order.
//! An empty recipient list sends nothing, as in the SDK.

use super::progress::HostProgress;
use crate::platform::{GroupCache, HttpApi, OutFrame, PlatformError, Uploader, WsLink};
use crate::protocol::http::GroupEntry;
use crate::protocol::outbound::{self, OutMessage, UpdateKind};
use crate::script::OutgoingMessage;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug)]
pub enum Downward {
    Characters {
        channel_id: String,
        characters: Vec<String>,
        recipients: Vec<String>,
    },
    Update {
        kind: UpdateKind,
        channel_id: String,
        content: Vec<Value>,
        recipients: Vec<String>,
    },
    /// A ChannelInfo record.
    ChannelInfo {
        channel_id: String,
        info: Value,
    },
    Message(OutgoingMessage),
    /// Groups the platform already has (start-up prefetch).
    KnownGroups(Vec<GroupEntry>),
    /// An event's handler finished (`true`: an upward event); its items are
    /// ahead of this marker (counted for drivers, see `progress.rs`).
    Handled(bool),
}

pub type OutboxSender = mpsc::UnboundedSender<Downward>;

const GROUP_TRIES: u32 = 8;
const GROUP_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(25);

struct Outbox {
    http: Arc<HttpApi>,
    uploader: Arc<Uploader>,
    link: WsLink,
    service_id: String,
    groups: GroupCache,
    progress: Option<HostProgress>,
}

pub fn spawn(
    http: Arc<HttpApi>,
    uploader: Arc<Uploader>,
    link: WsLink,
    service_id: String,
    mut rx: mpsc::UnboundedReceiver<Downward>,
    progress: Option<HostProgress>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut outbox = Outbox {
            http,
            uploader,
            link,
            service_id,
            groups: GroupCache::new(),
            progress,
        };
        while let Some(item) = rx.recv().await {
            if let Err(e) = outbox.send(item).await {
                tracing::error!(error = %e, "downward event dropped");
            }
        }
        let (hits, misses) = outbox.groups.stats();
        tracing::debug!(hits, misses, "outbox closed");
    })
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Updates with the same key supersede each other (see `FrameQueue`).
fn view_key(channel_id: &str, kind: &str, recipients_group: &str) -> String {
    format!("{channel_id}\u{1f}{kind}\u{1f}{recipients_group}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Outbox {
    /// The group id for `ids`; a failed creation is retried with back-off
    /// (a platform hiccup must not cost a view update), up to `GROUP_TRIES`.
    async fn group(&mut self, ids: &[String]) -> Result<String, PlatformError> {
        let mut delay = GROUP_RETRY_DELAY;
        let mut tries = 1;
        loop {
            match self.groups.group_id(&self.http, ids).await {
                Ok(id) => return Ok(id),
                Err(e) if tries < GROUP_TRIES => {
                    tracing::warn!(error = %e, tries, retry_in = ?delay, "creating a group failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send(&mut self, item: Downward) -> Result<(), PlatformError> {
        let request_id = request_id();
        let (text, coalesce_key) = match item {
            Downward::KnownGroups(entries) => {
                self.groups.seed(entries);
                return Ok(());
            }
            Downward::Handled(upward) => {
                if let Some(p) = &self.progress {
                    p.handled(upward);
                }
                return Ok(());
            }
            Downward::Characters { recipients, .. } | Downward::Update { recipients, .. }
                if recipients.is_empty() =>
            {
                tracing::debug!("update with no recipients: nothing sent");
                return Ok(());
            }
            Downward::Characters {
                channel_id,
                characters,
                recipients,
            } => {
                let r = self.group(&recipients).await?;
                let c = self.group(&characters).await?;
                let key = view_key(&channel_id, "characters", &r);
                (
                    outbound::update_characters(&request_id, &self.service_id, &channel_id, &r, &c),
                    Some(key),
                )
            }
            Downward::Update {
                kind,
                channel_id,
                mut content,
                recipients,
            } => {
                if kind == UpdateKind::Canvas {
                    for item in &mut content {
                        if let Some(path) =
                            item.get("path").and_then(Value::as_str).map(str::to_string)
                        {
                            item["path"] = Value::String(self.uploader.url_for(&path).await?);
                        }
                    }
                }
                let r = self.group(&recipients).await?;
                let key = view_key(&channel_id, kind.subtype(), &r);
                let text = outbound::update(
                    &request_id,
                    &self.service_id,
                    kind,
                    &channel_id,
                    &r,
                    &Value::Array(content),
                );
                (text, Some(key))
            }
            Downward::ChannelInfo { channel_id, info } => {
                let text = |k: &str| {
                    info.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let frame = outbound::channel_info(
                    &request_id,
                    &self.service_id,
                    &channel_id,
                    &text("channel_name"),
                    &text("channel_description"),
                    &text("channel_type"),
                );
                (frame, Some(view_key(&channel_id, "channel_info", "")))
            }
            Downward::Message(m) => match self.message_frame(&request_id, m).await? {
                Some(frame) => (frame, None),
                None => return Ok(()),
            },
        };
        self.link.send(OutFrame {
            text,
            request_id,
            coalesce_key,
        });
        if let Some(p) = &self.progress {
            p.downward_sent();
        }
        Ok(())
    }

    async fn message_frame(
        &mut self,
        request_id: &str,
        mut m: OutgoingMessage,
    ) -> Result<Option<String>, PlatformError> {
        if m.recipients.is_empty() {
            tracing::debug!(channel_id = %m.channel_id, "message with no recipients: nothing sent");
            return Ok(None);
        }
        if let Some(path) = m
            .content
            .get("path")
            .and_then(Value::as_str)
            .map(str::to_string)
        {
            let url = self.uploader.url_for(&path).await?;
            if m.subtype == "file" && !m.content.contains_key("size") {
                if let Some(size) = self.http.content_length(&url).await {
                    m.content.insert("size".into(), Value::from(size));
                }
            }
            m.content.insert("path".into(), Value::String(url));
        }
        let r = self.group(&m.recipients).await?;
        let content = Value::Object(m.content);
        let out = OutMessage {
            channel_id: &m.channel_id,
            subtype: &m.subtype,
            content: &content,
            recipients_group: &r,
            timestamp: now_ms(),
            sender: &m.sender,
            context: &m.context,
        };
        Ok(Some(outbound::message_down(
            request_id,
            &self.service_id,
            &out,
        )))
    }
}
