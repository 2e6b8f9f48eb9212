//! Service -> users: applying a service's `update` and `message_down` frames
//! to the recipients' views and forwarding them to connected user clients.
//!
//! Group ids are expanded here, against the sandbox's own group table, exactly
//! as the platform would; a recipient who is not a member of the channel is
//! skipped. Forwarded frames lose `recipients` (users never see who else got
//! a frame) but keep `content.characters` as a group id that `/user/group`
//! resolves, like the real platform. A frame is serialised once however many
//! recipients it has, so a 1,000-member group costs one encoding.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::hub::Outgoing;
use super::shared::World;
use super::state::{new_id, unique, IdList};
use super::upward::{now_ms, MAX_HISTORY};
use super::view::{as_list, ReceivedMessage, ViewChange, ViewChannelInfo};

/// Expands a `recipients` or `content.characters` value: a group id, or
/// (leniently) a list of ids. Duplicates are removed, order is kept.
fn expand(world: &mut World, value: Option<&Value>) -> Option<IdList> {
    let Some(value) = value else {
        tracing::warn!("service frame lacks a group field (recipients or content.characters)");
        return None;
    };
    match value {
        Value::String(group_id) => match world.state.expand_group_unique(group_id) {
            Ok(ids) => Some(ids),
            Err(err) => {
                tracing::warn!(%err, "service frame names an unknown group");
                None
            }
        },
        Value::Array(items) => {
            let ids: IdList = items.iter().filter_map(Value::as_str).collect();
            Some(unique(&ids))
        }
        other => {
            tracing::warn!(value = %other, "group field is neither a group id nor a list");
            None
        }
    }
}

/// Up to this many recipients, membership is checked by scanning the member
/// list: per-member views (one recipient each) then cost no set building.
const SCAN_RECIPIENTS: usize = 8;

impl World {
    /// Handles one downward frame from `service_id`'s connection.
    pub fn service_frame(&mut self, service_id: &str, frame: &Map<String, Value>) {
        match frame.get("type").and_then(Value::as_str) {
            Some("update") => self.service_update(service_id, frame),
            Some("message_down") => self.message_down(service_id, frame),
            other => tracing::debug!(?other, "ignoring a service frame of this type"),
        }
    }

    /// True if the channel exists and `service_id` is bound to it.
    fn bound(&self, service_id: &str, channel_id: &str) -> bool {
        match self.state.channel(channel_id) {
            Ok(channel) if channel.service_id.as_deref() == Some(service_id) => true,
            Ok(_) => {
                tracing::warn!(
                    service_id,
                    channel_id,
                    "service is not bound to this channel; frame ignored"
                );
                false
            }
            Err(err) => {
                tracing::warn!(%err, "service frame for an unknown channel ignored");
                false
            }
        }
    }

    fn service_update(&mut self, service_id: &str, frame: &Map<String, Value>) {
        let empty = Map::new();
        let body = frame
            .get("body")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let top_subtype = frame.get("subtype").and_then(Value::as_str);
        let subtype = top_subtype.or_else(|| body.get("subtype").and_then(Value::as_str));
        if subtype == Some("channel_info") {
            return self.channel_info(service_id, frame, body);
        }
        let Some(channel_id) = body.get("channel_id").and_then(Value::as_str) else {
            tracing::warn!("update without body.channel_id ignored");
            return;
        };
        if !self.bound(service_id, channel_id) {
            return;
        }
        let content = body.get("content").unwrap_or(&Value::Null);
        let change = match subtype {
            Some("characters") => {
                let Some(ids) = expand(self, content.get("characters")) else {
                    return;
                };
                ViewChange::Characters(ids)
            }
            Some("buttons") => ViewChange::Buttons(as_list(content)),
            Some("canvas") => ViewChange::Canvas(as_list(content)),
            Some("menu") => ViewChange::Menu(as_list(content)),
            Some("style") => ViewChange::Style(as_list(content)),
            other => {
                tracing::warn!(subtype = ?other, "update of unknown subtype ignored");
                return;
            }
        };
        let Some(recipients) = expand(self, body.get("recipients")) else {
            return;
        };
        self.deliver(channel_id, &recipients, &change, frame);
    }

    /// `update/channel_info`: subtype and channel id are top-level, there
    /// are no recipients, and it applies to the whole channel.
    fn channel_info(
        &mut self,
        service_id: &str,
        frame: &Map<String, Value>,
        body: &Map<String, Value>,
    ) {
        let channel_id = frame
            .get("channel_id")
            .or_else(|| body.get("channel_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(channel_id) = channel_id else {
            tracing::warn!("channel_info update without a channel id ignored");
            return;
        };
        if !self.bound(service_id, &channel_id) {
            return;
        }
        let Ok(channel) = self.state.channel_mut(&channel_id) else {
            return;
        };
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        if let Some(name) = text("channel_name") {
            channel.name = name;
        }
        if let Some(description) = text("channel_description") {
            channel.description = description;
        }
        if let Some(channel_type) = text("channel_type").filter(|t| !t.is_empty()) {
            channel.channel_type = channel_type;
        }
        let info = ViewChannelInfo::of(channel);
        let members: IdList = channel.members.iter().collect();
        self.deliver(&channel_id, &members, &ViewChange::ChannelInfo(info), frame);
    }

    fn message_down(&mut self, service_id: &str, frame: &Map<String, Value>) {
        let Some(mut body) = frame.get("body").and_then(Value::as_object).cloned() else {
            tracing::warn!("message_down without a body ignored");
            return;
        };
        let Some(channel_id) = body
            .get("channel_id")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            tracing::warn!("message_down without body.channel_id ignored");
            return;
        };
        if !self.bound(service_id, &channel_id) {
            return;
        }
        let Some(recipients) = expand(self, body.get("recipients")) else {
            return;
        };
        let message_id = new_id();
        body.insert("message_id".into(), json!(message_id));
        if !body.get("timestamp").is_some_and(Value::is_i64) {
            body.insert("timestamp".into(), json!(now_ms()));
        }
        body.entry("sender").or_insert(Value::Null);
        body.entry("content").or_insert(json!({}));
        if let Ok(channel) = self.state.channel_mut(&channel_id) {
            if channel.history.len() >= MAX_HISTORY {
                channel.history.remove(0);
            }
            channel.history.push(Value::Object(body.clone()));
        }
        let change = ViewChange::Message(ReceivedMessage::from_body(&message_id, &body));
        let mut forwarded = frame.clone();
        forwarded.insert("body".into(), Value::Object(body));
        self.deliver(&channel_id, &recipients, &change, &forwarded);
    }

    /// Applies `change` to each member recipient's view, announces it, and
    /// forwards `frame` (without its recipients) to their connections; the
    /// forwarded text is made once, and only if someone is connected.
    fn deliver(
        &mut self,
        channel_id: &str,
        recipients: &IdList,
        change: &ViewChange,
        frame: &Map<String, Value>,
    ) {
        let members: Vec<&str> = match self.state.channel(channel_id) {
            Ok(channel) if recipients.len() <= SCAN_RECIPIENTS => recipients
                .iter()
                .filter(|id| channel.members.iter().any(|m| m == id))
                .collect(),
            Ok(channel) => {
                let set: HashSet<&str> = channel.members.iter().map(String::as_str).collect();
                recipients.iter().filter(|id| set.contains(id)).collect()
            }
            Err(_) => return,
        };
        if members.len() < recipients.len() {
            tracing::debug!(
                channel_id,
                skipped = recipients.len() - members.len(),
                "recipients that are not members skipped"
            );
        }
        let mut text: Option<String> = None;
        let reached = members.len();
        for user_id in members {
            let event = self
                .state
                .apply_view_change(user_id, channel_id, change.clone());
            self.emit(event);
            let mut queued = 0;
            for conn in self.hub.users(user_id) {
                let text = text.get_or_insert_with(|| without_recipients(frame).to_string());
                conn.queue(Outgoing::Text(text.clone()));
                queued += 1;
            }
            if queued > 0 {
                *self
                    .state
                    .stats
                    .user_frames
                    .entry(user_id.to_string())
                    .or_default() += queued;
            }
        }
        tracing::debug!(
            channel_id,
            recipients = recipients.len(),
            reached,
            "downward event delivered"
        );
    }
}

/// The frame as users get it: `body.recipients` removed.
fn without_recipients(frame: &Map<String, Value>) -> Value {
    let mut frame = frame.clone();
    if let Some(Value::Object(body)) = frame.get_mut("body") {
        body.remove("recipients");
    }
    Value::Object(frame)
}
