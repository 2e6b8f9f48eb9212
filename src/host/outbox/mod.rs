//! The outbox: downward events from scripts, in the order scripts made them,
//! turned into wire frames.
//!
//! Scripts speak in lists of ids and local file paths; the wire speaks in
//! group ids and URLs. Converting needs HTTP calls (a group creation on a
//! cache miss, an upload), so events are prepared in a pipeline: up to
//! `PIPELINE` events are converted concurrently, and their frames are handed
//! to the link strictly in the order the events were made. An empty recipient
//! list sends nothing, as in the SDK.

pub(super) mod frame_sink;
pub(super) mod sender;

use crate::host::progress::HostProgress;
use crate::platform::{GroupCache, HttpApi, OutFrame, PlatformError, Uploader};
use crate::protocol::http::GroupEntry;
use crate::protocol::outbound::{self, OutMessage, UpdateKind};
use crate::protocol::IdList;
use crate::script::{OutgoingMessage, UserFrame, ViewUpdate};
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug)]
pub enum Downward {
    Characters {
        channel_id: String,
        characters: IdList,
        recipients: IdList,
    },
    Update(ViewUpdate),
    /// A ChannelInfo record.
    ChannelInfo {
        channel_id: String,
        info: Value,
    },
    Message(OutgoingMessage),
    /// Groups the platform already has (start-up prefetch).
    KnownGroups(Vec<GroupEntry>),
    /// Runs its action once every item queued before it was handed to the
    /// link (or dropped): a flush point, for whoever needs to know that.
    Barrier(Barrier),
    /// A user-mode frame (an action or a message up).
    User(UserFrame),
    /// In a cluster: `item`, made while handling a partition's event, with
    /// the request id derived from it and the partition lease it was made
    /// under (see `bridge::Cause`).
    Caused {
        request_id: String,
        fence: (usize, u64),
        item: Box<Downward>,
    },
}

/// An action the outbox runs at a flush point (see [`Downward::Barrier`]).
pub struct Barrier(Box<dyn FnOnce() + Send>);

impl Barrier {
    pub fn new(action: impl FnOnce() + Send + 'static) -> Self {
        Barrier(Box::new(action))
    }

    pub(super) fn reached(self) {
        (self.0)()
    }

    pub(super) fn into_action(self) -> Box<dyn FnOnce() + Send> {
        self.0
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Barrier")
    }
}

impl Downward {
    /// The script function that made this item (for budget errors).
    pub fn call_name(&self) -> &'static str {
        match self {
            Downward::Characters { .. } => "send_characters",
            Downward::Update(u) => match u.kind {
                UpdateKind::Buttons => "send_buttons",
                UpdateKind::Canvas => "send_canvas",
                UpdateKind::Menu => "send_menu",
                UpdateKind::Style => "send_style",
            },
            Downward::ChannelInfo { .. } => "update_channel_info",
            Downward::User(UserFrame::Action(_)) => "user action",
            Downward::User(UserFrame::MessageUp { .. }) => "send_message_up",
            Downward::Message(_) => "send_message",
            Downward::KnownGroups(_) | Downward::Barrier(_) => "host",
            Downward::Caused { item, .. } => item.call_name(),
        }
    }

    /// The kind of frame this item becomes (a metrics label).
    fn frame_kind(&self) -> &'static str {
        match self {
            Downward::Characters { .. } => "characters",
            Downward::Update(u) => u.kind.subtype(),
            Downward::ChannelInfo { .. } => "channel_info",
            Downward::Message(_) => "message_down",
            Downward::User(UserFrame::Action(_)) => "action",
            Downward::User(UserFrame::MessageUp { .. }) => "message_up",
            Downward::KnownGroups(_) | Downward::Barrier(_) => "none",
            Downward::Caused { item, .. } => item.frame_kind(),
        }
    }

    /// The size of what the script hands over (ids, text, JSON content),
    /// counted against its output budget.
    pub fn content_bytes(&self) -> usize {
        match self {
            Downward::Characters {
                characters,
                recipients,
                ..
            } => characters.byte_len() + recipients.byte_len(),
            Downward::Update(u) => {
                u.content.iter().map(json_len).sum::<usize>() + u.recipients.byte_len()
            }
            Downward::ChannelInfo { info, .. } => json_len(info),
            Downward::User(UserFrame::Action(body)) => body.values().map(json_len).sum(),
            Downward::User(UserFrame::MessageUp { body, recipients }) => {
                body.values().map(json_len).sum::<usize>() + recipients.byte_len()
            }
            Downward::Message(m) => {
                m.content.values().map(json_len).sum::<usize>()
                    + json_len(&m.context)
                    + m.recipients.byte_len()
            }
            Downward::KnownGroups(_) | Downward::Barrier(_) => 0,
            Downward::Caused { item, .. } => item.content_bytes(),
        }
    }
}

/// The length of a value's JSON text, without keeping the text.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

/// What one event becomes, in order.
enum Prepared {
    /// A frame, its kind (a metrics label) and, in a cluster, the partition
    /// lease it was made under.
    Frame(OutFrame, &'static str, Option<(usize, u64)>),
    Barrier(Barrier),
    Nothing,
}

pub use crate::host::outbox::sender::{OutboxRefused, OutboxSender};

/// Events converted at the same time (their frames still leave in order).
const PIPELINE: usize = 64;

struct Outbox {
    http: Arc<HttpApi>,
    uploader: Arc<Uploader>,
    service_id: String,
    groups: GroupCache,
}

pub use crate::host::outbox::frame_sink::FrameSink;

pub fn spawn(
    http: Arc<HttpApi>,
    uploader: Arc<Uploader>,
    sink: FrameSink,
    service_id: String,
    rx: mpsc::Receiver<Downward>,
    progress: Option<HostProgress>,
) -> tokio::task::JoinHandle<()> {
    let outbox = Arc::new(Outbox {
        groups: GroupCache::new(http.clone()),
        http,
        uploader,
        service_id,
    });
    tokio::spawn(async move {
        let events = futures_util::stream::unfold(rx, |mut rx| async move {
            let item = rx.recv().await;
            crate::metrics::OUTBOX.set(rx.len() as f64);
            item.map(|item| (item, rx))
        });
        let ob = outbox.clone();
        let frames = events
            .map(move |item| {
                let ob = ob.clone();
                async move { ob.prepare(item).await }
            })
            .buffered(PIPELINE);
        tokio::pin!(frames);
        while let Some(result) = frames.next().await {
            match result {
                Ok(Prepared::Frame(frame, kind, fence)) => {
                    sink.send(frame, fence).await;
                    crate::metrics::FRAMES.add(kind);
                    if let Some(p) = &progress {
                        p.downward_sent();
                    }
                }
                Ok(Prepared::Barrier(barrier)) => sink.barrier(barrier).await,
                Ok(Prepared::Nothing) => {}
                Err(e) => tracing::error!(error = %e, "downward event dropped"),
            }
        }
        let (hits, misses) = outbox.groups.stats();
        tracing::debug!(hits, misses, "outbox closed");
    })
}

/// A random (v4) UUID for a frame. From the thread's generator (seeded
/// from the system once), not a system call per frame as `new_v4` makes:
/// a request id only has to be unique, and one is made for every frame.
fn request_id() -> String {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

/// Updates with the same key supersede each other (see `FrameQueue`).
/// (Pieces pushed, not `format!`: one is made for every view update.)
fn view_key(channel_id: &str, kind: &str, recipients_group: &str) -> String {
    let mut key = String::with_capacity(channel_id.len() + kind.len() + recipients_group.len() + 2);
    for (i, part) in [channel_id, kind, recipients_group].into_iter().enumerate() {
        if i > 0 {
            key.push('\u{1f}');
        }
        key.push_str(part);
    }
    key
}

use crate::clock::now_ms;

impl Outbox {
    /// The frame for one event (or the barrier it is).
    async fn prepare(&self, item: Downward) -> Result<Prepared, PlatformError> {
        match item {
            Downward::Caused {
                request_id,
                fence,
                item,
            } => self.prepare_as(*item, request_id, Some(fence)).await,
            item => self.prepare_as(item, request_id(), None).await,
        }
    }

    async fn prepare_as(
        &self,
        item: Downward,
        request_id: String,
        fence: Option<(usize, u64)>,
    ) -> Result<Prepared, PlatformError> {
        let kind = item.frame_kind();
        let (text, coalesce_key) = match item {
            Downward::KnownGroups(entries) => {
                self.groups.seed(entries);
                return Ok(Prepared::Nothing);
            }
            Downward::Barrier(barrier) => return Ok(Prepared::Barrier(barrier)),
            // Only the bridge wraps, and only once.
            Downward::Caused { .. } => return Ok(Prepared::Nothing),
            Downward::Characters { recipients, .. }
            | Downward::Update(ViewUpdate { recipients, .. })
                if recipients.is_empty() =>
            {
                tracing::debug!("update with no recipients: nothing sent");
                return Ok(Prepared::Nothing);
            }
            Downward::Characters {
                channel_id,
                characters,
                recipients,
            } => {
                self.characters_frame(&request_id, &channel_id, &characters, &recipients)
                    .await?
            }
            Downward::Update(ViewUpdate {
                kind,
                channel_id,
                content,
                recipients,
            }) => {
                self.update_frame(&request_id, kind, &channel_id, content, &recipients)
                    .await?
            }
            Downward::ChannelInfo { channel_id, info } => {
                self.channel_info_frame(&request_id, &channel_id, &info)
            }
            Downward::User(frame) => (self.user_frame(&request_id, frame).await?, None),
            Downward::Message(m) => match self.message_frame(&request_id, m).await? {
                Some(frame) => (frame, None),
                None => return Ok(Prepared::Nothing),
            },
        };
        Ok(Prepared::Frame(
            OutFrame {
                text,
                request_id,
                coalesce_key,
            },
            kind,
            fence,
        ))
    }

    /// A characters update: both lists as group ids.
    async fn characters_frame(
        &self,
        request_id: &str,
        channel_id: &str,
        characters: &IdList,
        recipients: &IdList,
    ) -> Result<(String, Option<String>), PlatformError> {
        let (r, c) = futures_util::future::try_join(
            self.groups.group_id(recipients),
            self.groups.group_id(characters),
        )
        .await?;
        let key = view_key(channel_id, "characters", &r);
        let text = outbound::update_characters(request_id, &self.service_id, channel_id, &r, &c);
        Ok((text, Some(key)))
    }

    /// Buttons, canvas, menu or style; a canvas item's local image is
    /// uploaded first.
    async fn update_frame(
        &self,
        request_id: &str,
        kind: UpdateKind,
        channel_id: &str,
        mut content: Vec<Value>,
        recipients: &IdList,
    ) -> Result<(String, Option<String>), PlatformError> {
        if kind == UpdateKind::Canvas {
            for item in &mut content {
                if let Some(path) = item.get("path").and_then(Value::as_str).map(str::to_string) {
                    item["path"] = Value::String(self.uploader.url_for(&path).await?);
                }
            }
        }
        let r = self.groups.group_id(recipients).await?;
        let key = view_key(channel_id, kind.subtype(), &r);
        let text = outbound::update(
            request_id,
            &self.service_id,
            kind,
            channel_id,
            &r,
            &Value::Array(content),
        );
        Ok((text, Some(key)))
    }

    /// A user-mode frame; a message's recipients become a user group.
    async fn user_frame(
        &self,
        request_id: &str,
        frame: UserFrame,
    ) -> Result<String, PlatformError> {
        let user_id = &self.service_id;
        Ok(match frame {
            UserFrame::Action(body) => crate::protocol::user::action(request_id, user_id, &body),
            UserFrame::MessageUp {
                mut body,
                recipients,
            } => {
                let channel_id = body
                    .get("channel_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let group = self
                    .http
                    .create_user_group(&channel_id, &recipients)
                    .await?;
                body.insert("recipients".into(), Value::String(group));
                crate::protocol::user::message_up(request_id, user_id, &body)
            }
        })
    }

    fn channel_info_frame(
        &self,
        request_id: &str,
        channel_id: &str,
        info: &Value,
    ) -> (String, Option<String>) {
        let text = |k: &str| {
            info.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let frame = outbound::channel_info(
            request_id,
            &self.service_id,
            channel_id,
            &text("channel_name"),
            &text("channel_description"),
            &text("channel_type"),
        );
        (frame, Some(view_key(channel_id, "channel_info", "")))
    }

    async fn message_frame(
        &self,
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
        let r = self.groups.group_id(&m.recipients).await?;
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
