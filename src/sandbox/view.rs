//! What one user currently sees in one channel.
//!
//! The real platform renders service updates in each user's browser; the
//! sandbox keeps the same information as data so tests and the dev page can
//! ask "what does alice see?". Every downward event that reaches a user bumps
//! that view's `version`, which is what watchers wait on.

use serde::Serialize;
use serde_json::Value;

use super::state::State;

/// Messages kept per view; older ones are dropped first.
pub const MAX_VIEW_MESSAGES: usize = 1000;

/// One character in a user's character list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ViewCharacter {
    pub character_id: String,
    pub name: String,
    pub avatar: Option<String>,
}

/// One message as the user received it.
#[derive(Debug, Clone, Serialize)]
pub struct ViewMessage {
    pub message_id: String,
    pub subtype: Value,
    pub content: Value,
    pub sender: Value,
    pub timestamp: Value,
}

/// A user's view of one channel. Lists are empty and `version` is 0 until the
/// first event arrives.
#[derive(Debug, Clone, Default, Serialize)]
pub struct View {
    pub characters: Vec<ViewCharacter>,
    pub buttons: Vec<Value>,
    pub canvas: Vec<Value>,
    pub menu: Vec<Value>,
    pub style: Vec<Value>,
    pub messages: Vec<ViewMessage>,
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

/// One change to a view, already resolved to plain data.
#[derive(Debug, Clone)]
pub enum ViewChange {
    Characters(Vec<ViewCharacter>),
    Buttons(Vec<Value>),
    Canvas(Vec<Value>),
    Menu(Vec<Value>),
    Style(Vec<Value>),
    Message(ViewMessage),
    /// Something arrived that the view does not model (e.g. channel info);
    /// the version still moves so watchers notice.
    Other,
}

/// Turns an update's `content` into a list: services may send a lone item.
pub fn as_list(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

impl State {
    /// Resolves character ids to `{character_id, name, avatar}`, skipping
    /// ids the sandbox does not know.
    pub fn view_characters(&self, ids: &[String]) -> Vec<ViewCharacter> {
        ids.iter()
            .filter_map(|id| {
                let brief = self.character_brief(id);
                if brief.is_none() {
                    tracing::debug!(character_id = %id, "characters update names an unknown character");
                }
                brief.map(|(name, avatar)| ViewCharacter {
                    character_id: id.clone(),
                    name,
                    avatar,
                })
            })
            .collect()
    }

    /// The current view (a default one if nothing arrived yet).
    pub fn view(&self, user_id: &str, channel_id: &str) -> View {
        self.views
            .get(&(user_id.to_string(), channel_id.to_string()))
            .cloned()
            .unwrap_or_default()
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
            ViewChange::Characters(list) => view.characters = list,
            ViewChange::Buttons(list) => view.buttons = list,
            ViewChange::Canvas(list) => view.canvas = list,
            ViewChange::Menu(list) => view.menu = list,
            ViewChange::Style(list) => view.style = list,
            ViewChange::Message(message) => {
                if view.messages.len() >= MAX_VIEW_MESSAGES {
                    view.messages.remove(0);
                }
                view.messages.push(message);
            }
            ViewChange::Other => {}
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
