//! What one user currently sees in one channel.
//!
//! The real platform renders service updates in each user's browser; the
//! sandbox keeps the same information as data so tests and the dev page can
//! ask "what does alice see?". Every downward event that reaches a user bumps
//! that view's `version`, which is what watchers wait on.
//!
//! What a user received is stored as ids (`Received`); names and avatars are
//! looked up when the view is read, so a renamed agent shows its new name in
//! later views, as a browser re-reading profiles would. The messages the user
//! sent there are kept beside them (`sent`), so the dev page can show a
//! member's own messages in their column; sending does not change `version`,
//! which counts downward events only.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::{Map, Value};

use super::state::{Channel, CharacterSummary, IdList, State};

/// Messages kept per view (received, and sent); older ones are dropped first.
pub const MAX_VIEW_MESSAGES: usize = 1000;

/// The channel type reported when no service said otherwise.
pub const DEFAULT_CHANNEL_TYPE: &str = "ccs";

/// One character in a user's character list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ViewCharacter {
    pub character_id: String,
    pub name: String,
    pub avatar: Option<String>,
}

/// One message as the user received it; `sender` is kept as the service
/// sent it, `sender_name` is the name of that user or agent ("" if unknown).
/// `seq` is its place among every message received and sent in this view,
/// so `messages` and `sent` can be shown as one conversation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ViewMessage {
    pub message_id: String,
    pub subtype: String,
    pub content: Value,
    pub sender: String,
    pub sender_name: String,
    pub seq: u64,
}

/// One message the user sent in the channel (a `message_up`), with the
/// characters it was addressed to (names resolved on read, "" if unknown).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ViewSentMessage {
    pub message_id: String,
    pub subtype: String,
    pub content: Value,
    pub recipients: Vec<CharacterSummary>,
    pub seq: u64,
}

/// A channel's info as a user sees it (the ChannelInfo record).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ViewChannelInfo {
    pub channel_id: String,
    pub channel_name: String,
    pub channel_description: String,
    pub channel_type: String,
}

impl ViewChannelInfo {
    /// The channel's current ground-truth info.
    pub fn of(channel: &Channel) -> Self {
        Self {
            channel_id: channel.channel_id.clone(),
            channel_name: channel.name.clone(),
            channel_description: channel.description.clone(),
            channel_type: channel.channel_type.clone(),
        }
    }
}

/// A user's view of one channel. Lists are empty and `version` is 0 until the
/// first event arrives; `messages` are oldest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct View {
    pub characters: Vec<ViewCharacter>,
    pub buttons: Vec<Value>,
    pub canvas: Vec<Value>,
    pub menu: Vec<Value>,
    pub style: Vec<Value>,
    pub messages: Vec<ViewMessage>,
    pub sent: Vec<ViewSentMessage>,
    pub channel_info: ViewChannelInfo,
    pub version: u64,
}

/// Sent on the sandbox's broadcast channel whenever a user's view changes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ViewEvent {
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    pub version: u64,
}

/// Sent on the sandbox's sent-message channel when a user sends a message
/// (their view's `sent` grew; `version` did not change).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SentEvent {
    pub user_id: String,
    pub channel_id: String,
}

/// A message as stored in a view: ids only, names resolved on read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub subtype: String,
    pub content: Value,
    pub sender: String,
}

/// A message the user sent, as stored in their view: recipient ids only.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub message_id: String,
    pub subtype: String,
    pub content: Value,
    pub recipients: IdList,
}

/// What one user received in one channel (the stored form of a `View`).
#[derive(Debug, Clone, Default)]
pub struct Received {
    character_ids: IdList,
    buttons: Vec<Value>,
    canvas: Vec<Value>,
    menu: Vec<Value>,
    style: Vec<Value>,
    /// With each message its `seq`.
    messages: VecDeque<(u64, ReceivedMessage)>,
    sent: VecDeque<(u64, SentMessage)>,
    /// Messages received and sent here so far (the next `seq`).
    seq: u64,
    channel_info: Option<ViewChannelInfo>,
    version: u64,
}

/// One change to a view, already resolved to plain data.
#[derive(Debug, Clone)]
pub enum ViewChange {
    Characters(IdList),
    Buttons(Vec<Value>),
    Canvas(Vec<Value>),
    Menu(Vec<Value>),
    Style(Vec<Value>),
    Message(ReceivedMessage),
    ChannelInfo(ViewChannelInfo),
}

/// Turns an update's `content` into a list: services may send a lone item.
pub fn as_list(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

impl ReceivedMessage {
    /// From a `message_down` body (the sandbox has filled `message_id`).
    pub fn from_body(message_id: &str, body: &Map<String, Value>) -> Self {
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Self {
            message_id: message_id.to_string(),
            subtype: text("subtype"),
            content: body
                .get("content")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
            sender: text("sender"),
        }
    }
}

impl State {
    /// Resolves character ids to `{character_id, name, avatar}`, skipping
    /// ids the sandbox does not know.
    pub fn view_characters(&self, ids: &IdList) -> Vec<ViewCharacter> {
        ids.iter()
            .filter_map(|id| {
                self.character_brief(id)
                    .map(|(name, avatar)| ViewCharacter {
                        character_id: id.to_string(),
                        name,
                        avatar,
                    })
            })
            .collect()
    }

    /// The current view (an empty one if nothing arrived yet), with names
    /// resolved now.
    pub fn view(&self, user_id: &str, channel_id: &str) -> View {
        let key = (user_id.to_string(), channel_id.to_string());
        let empty = Received::default();
        let received = self.views.get(&key).unwrap_or(&empty);
        let channel_info = received.channel_info.clone().unwrap_or_else(|| {
            self.channel(channel_id)
                .map(ViewChannelInfo::of)
                .unwrap_or_default()
        });
        View {
            characters: self.view_characters(&received.character_ids),
            buttons: received.buttons.clone(),
            canvas: received.canvas.clone(),
            menu: received.menu.clone(),
            style: received.style.clone(),
            messages: received
                .messages
                .iter()
                .map(|(seq, m)| ViewMessage {
                    message_id: m.message_id.clone(),
                    subtype: m.subtype.clone(),
                    content: m.content.clone(),
                    sender: m.sender.clone(),
                    sender_name: self.name_of(&m.sender),
                    seq: *seq,
                })
                .collect(),
            sent: received
                .sent
                .iter()
                .map(|(seq, m)| ViewSentMessage {
                    message_id: m.message_id.clone(),
                    subtype: m.subtype.clone(),
                    content: m.content.clone(),
                    recipients: m
                        .recipients
                        .iter()
                        .map(|id| CharacterSummary {
                            character_id: id.to_string(),
                            name: self.name_of(id),
                        })
                        .collect(),
                    seq: *seq,
                })
                .collect(),
            channel_info,
            version: received.version,
        }
    }

    /// A user's or agent's current name, "" if unknown.
    fn name_of(&self, character_id: &str) -> String {
        self.character_brief(character_id)
            .map(|(name, _)| name)
            .unwrap_or_default()
    }

    /// Keeps a message `user_id` sent in `channel_id` in their view (without
    /// changing its `version`) and returns the event to announce.
    pub fn record_sent(
        &mut self,
        user_id: &str,
        channel_id: &str,
        message: SentMessage,
    ) -> SentEvent {
        let view = self
            .views
            .entry((user_id.to_string(), channel_id.to_string()))
            .or_default();
        if view.sent.len() >= MAX_VIEW_MESSAGES {
            view.sent.pop_front();
        }
        view.sent.push_back((view.seq, message));
        view.seq += 1;
        SentEvent {
            user_id: user_id.to_string(),
            channel_id: channel_id.to_string(),
        }
    }

    /// A message `user_id` received in `channel_id`, by id.
    pub fn received_message(
        &self,
        user_id: &str,
        channel_id: &str,
        message_id: &str,
    ) -> Option<&ReceivedMessage> {
        self.views
            .get(&(user_id.to_string(), channel_id.to_string()))?
            .messages
            .iter()
            .map(|(_, m)| m)
            .find(|m| m.message_id == message_id)
    }

    /// Applies a change, bumps the version, and returns the event to announce.
    pub fn apply_view_change(
        &mut self,
        user_id: &str,
        channel_id: &str,
        change: ViewChange,
    ) -> ViewEvent {
        let user_name = self
            .account(user_id)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let view = self
            .views
            .entry((user_id.to_string(), channel_id.to_string()))
            .or_default();
        match change {
            ViewChange::Characters(ids) => view.character_ids = ids,
            ViewChange::Buttons(list) => view.buttons = list,
            ViewChange::Canvas(list) => view.canvas = list,
            ViewChange::Menu(list) => view.menu = list,
            ViewChange::Style(list) => view.style = list,
            ViewChange::Message(message) => {
                if view.messages.len() >= MAX_VIEW_MESSAGES {
                    view.messages.pop_front();
                }
                view.messages.push_back((view.seq, message));
                view.seq += 1;
            }
            ViewChange::ChannelInfo(info) => view.channel_info = Some(info),
        }
        view.version += 1;
        ViewEvent {
            user_id: user_id.to_string(),
            user_name,
            channel_id: channel_id.to_string(),
            version: view.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_resolve_names_on_read_and_keep_message_order() {
        let mut state = State::default();
        let alice = state.ensure_sandbox_user("alice").user_id;
        let channel = state.create_channel("lobby", "about");
        let service = state.create_service(&alice);
        let agent = state
            .create_agent(&service, "Meow", None, None)
            .character_id
            .clone();
        for (i, sender) in [agent.as_str(), "nobody"].iter().enumerate() {
            let body =
                json!({"subtype": "text", "content": {"text": i.to_string()}, "sender": sender});
            let body = body.as_object().cloned().unwrap_or_default();
            let message = ReceivedMessage::from_body(&format!("m{i}"), &body);
            state.apply_view_change(&alice, &channel, ViewChange::Message(message));
        }
        if let Ok(stored) = state.agent_mut(&service, &agent) {
            stored.name = "Purr".into();
        }
        let view = state.view(&alice, &channel);
        assert_eq!(view.version, 2);
        let got: Vec<(&str, &str, &str)> = view
            .messages
            .iter()
            .map(|m| {
                (
                    m.message_id.as_str(),
                    m.sender.as_str(),
                    m.sender_name.as_str(),
                )
            })
            .collect();
        assert_eq!(got, [("m0", agent.as_str(), "Purr"), ("m1", "nobody", "")]);
        assert_eq!(view.channel_info.channel_name, "lobby");
        assert_eq!(view.channel_info.channel_type, DEFAULT_CHANNEL_TYPE);
        assert!(state.received_message(&alice, &channel, "m1").is_some());
        assert!(state.received_message(&alice, &channel, "m9").is_none());
    }

    #[test]
    fn sent_messages_interleave_by_seq_without_a_new_version() {
        let mut state = State::default();
        let alice = state.ensure_sandbox_user("alice").user_id;
        let bob = state.ensure_sandbox_user("bob").user_id;
        let channel = state.create_channel("lobby", "about");
        let received = |text: &str| {
            let body = json!({"subtype": "text", "content": {"text": text}, "sender": bob});
            let body = body.as_object().cloned().unwrap_or_default();
            ViewChange::Message(ReceivedMessage::from_body(text, &body))
        };
        state.apply_view_change(&alice, &channel, received("first"));
        let sent = SentMessage {
            message_id: "s1".into(),
            subtype: "text".into(),
            content: json!({"text": "hello"}),
            recipients: vec![bob.clone(), "ghost".to_string()].into(),
        };
        let event = state.record_sent(&alice, &channel, sent);
        assert_eq!(
            (event.user_id.as_str(), event.channel_id.as_str()),
            (alice.as_str(), channel.as_str())
        );
        state.apply_view_change(&alice, &channel, received("second"));

        let view = state.view(&alice, &channel);
        assert_eq!(view.version, 2, "sending is not a downward event");
        let received: Vec<(&str, u64)> = view
            .messages
            .iter()
            .map(|m| (m.message_id.as_str(), m.seq))
            .collect();
        assert_eq!(received, [("first", 0), ("second", 2)]);
        assert_eq!(view.sent.len(), 1);
        assert_eq!(
            (view.sent[0].message_id.as_str(), view.sent[0].seq),
            ("s1", 1)
        );
        let names: Vec<&str> = view.sent[0]
            .recipients
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["bob", ""]);
        assert!(
            state.view(&bob, &channel).sent.is_empty(),
            "only the sender's view keeps it"
        );
    }
}
