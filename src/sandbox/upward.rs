//! Users -> service: what a user's client does, translated into the frames a
//! service receives.
//!
//! The Python SDK builds strict records from inbound bodies and drops a frame
//! with any unexpected key (docs/PROTOCOL.md 3.4.2), so every frame here is built from
//! scratch with exactly the documented key set rather than forwarded. Both the
//! WebSocket handler (real user clients) and the control API (simulated users)
//! go through `World::user_action`, so they behave identically.

use serde_json::{json, Map, Value};

use super::shared::World;
use super::state::{new_id, IdList, StateError};
use super::view::SentMessage;

/// Messages kept in a channel's history; older ones are dropped first.
pub const MAX_HISTORY: usize = 10_000;

/// Keys a MessageContent record accepts.
pub const CONTENT_KEYS: [&str; 7] = [
    "text", "path", "size", "filename", "link", "title", "button",
];

/// Something a user does in a channel.
#[derive(Debug, Clone)]
pub enum UserAction {
    Join,
    Leave,
    Refresh,
    /// `message_up`: the body as the user's client sent it.
    Message(Map<String, Value>),
    /// `button_click`: the body as the user's client sent it.
    ButtonClick(Map<String, Value>),
    /// `menu_item_click`: the body as the user's client sent it.
    MenuItemClick(Map<String, Value>),
}

impl UserAction {
    /// The control API's action names (a user client's `join_channel` /
    /// `leave_channel` are accepted too).
    pub fn from_name(name: &str) -> Option<UserAction> {
        match name {
            "join" | "join_channel" => Some(UserAction::Join),
            "leave" | "leave_channel" => Some(UserAction::Leave),
            "refresh" => Some(UserAction::Refresh),
            _ => None,
        }
    }
}

pub use crate::clock::now_ms;

/// Keeps only the keys a MessageContent record accepts.
pub fn message_content(content: Option<&Value>) -> Value {
    let mut out = Map::new();
    if let Some(Value::Object(map)) = content {
        for key in CONTENT_KEYS {
            if let Some(v) = map.get(key) {
                out.insert(key.to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn required_str(body: &Map<String, Value>, key: &str) -> Result<String, StateError> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StateError::Invalid(format!("missing string {key:?}")))
}

/// Unwraps the user SDK's extra list (`[[...]]`) and keeps ClickArgument keys.
fn click_arguments(arguments: Option<&Value>) -> Vec<Value> {
    let Some(Value::Array(items)) = arguments else {
        return Vec::new();
    };
    let items = match items.as_slice() {
        [Value::Array(inner)] => inner,
        _ => items,
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Object(map) => {
                let mut arg = Map::new();
                arg.insert(
                    "label".into(),
                    map.get("label").cloned().unwrap_or(Value::Null),
                );
                arg.insert(
                    "value".into(),
                    map.get("value").cloned().unwrap_or(Value::Null),
                );
                if let Some(filename) = map.get("filename") {
                    arg.insert("filename".into(), filename.clone());
                }
                Some(Value::Object(arg))
            }
            Value::Array(pair) if pair.len() == 2 => {
                Some(json!({"label": pair[0], "value": pair[1]}))
            }
            other => {
                tracing::debug!(argument = %other, "ignoring a click argument of unknown shape");
                None
            }
        })
        .collect()
}

fn simple_action(subtype: &str, channel_id: &str, user_id: &str) -> Value {
    json!({"type": "action", "body": {
        "subtype": subtype, "channel_id": channel_id, "sender": user_id, "context": {},
    }})
}

impl World {
    /// Performs `action` as `user_id` in `channel_id`: ground truth first,
    /// then the upward frames. Returns whether they were handed to the bound
    /// service's connection (false: no service bound or connected; the
    /// events are lost, as on the real platform).
    pub fn user_action(
        &mut self,
        user_id: &str,
        channel_id: &str,
        action: UserAction,
    ) -> Result<bool, StateError> {
        self.state.account(user_id)?;
        self.state.channel(channel_id)?;
        let frames = match action {
            UserAction::Join => {
                if self.state.add_member(channel_id, user_id)? {
                    tracing::info!(user_id, channel_id, "user joined");
                }
                vec![
                    simple_action("join", channel_id, user_id),
                    simple_action("refresh", channel_id, user_id),
                ]
            }
            UserAction::Leave => {
                if self.state.remove_member(channel_id, user_id)? {
                    tracing::info!(user_id, channel_id, "user left");
                }
                vec![simple_action("leave", channel_id, user_id)]
            }
            UserAction::Refresh => vec![simple_action("refresh", channel_id, user_id)],
            UserAction::Message(body) => vec![self.message_up(user_id, channel_id, &body)?],
            UserAction::ButtonClick(body) => vec![button_click(user_id, channel_id, &body)?],
            UserAction::MenuItemClick(body) => vec![menu_item_click(user_id, channel_id, &body)?],
        };
        let delivered = self.send_to_bound_service(channel_id, &frames);
        if delivered {
            self.state.stats.upward_frames += frames.len() as u64;
        }
        Ok(delivered)
    }

    fn send_to_bound_service(&self, channel_id: &str, frames: &[Value]) -> bool {
        let service_id = self
            .state
            .channel(channel_id)
            .ok()
            .and_then(|c| c.service_id.clone());
        let Some(service_id) = service_id else {
            tracing::debug!(channel_id, "no service bound; upward event lost");
            return false;
        };
        let Some(conn) = self.hub.service(&service_id) else {
            tracing::debug!(
                channel_id,
                service_id,
                "bound service not connected; upward event lost"
            );
            return false;
        };
        frames.iter().all(|frame| conn.send(frame))
    }

    /// Records a user's message (in the channel's history and in the
    /// sender's view) and builds the service's `message_up` frame.
    fn message_up(
        &mut self,
        user_id: &str,
        channel_id: &str,
        body: &Map<String, Value>,
    ) -> Result<Value, StateError> {
        let recipients = match body.get("recipients") {
            Some(Value::String(group_id)) => group_id.clone(),
            Some(Value::Array(ids)) => {
                let ids: IdList = ids.iter().filter_map(Value::as_str).collect();
                self.state.create_group(ids, Some(channel_id.to_string()))
            }
            _ => "service".to_string(),
        };
        let recipient_ids = match self.state.expand_group(&recipients) {
            Ok(ids) => ids,
            Err(err) => {
                if recipients != "service" {
                    tracing::debug!(%err, "message_up names a group the sandbox does not know");
                }
                IdList::default()
            }
        };
        let sent = SentMessage {
            message_id: new_id(),
            subtype: body
                .get("subtype")
                .and_then(Value::as_str)
                .unwrap_or("text")
                .to_string(),
            content: message_content(body.get("content")),
            recipients: recipient_ids,
        };
        let message = json!({
            "subtype": sent.subtype,
            "channel_id": channel_id,
            "content": sent.content,
            "timestamp": body.get("timestamp").filter(|t| t.is_i64()).cloned().unwrap_or(json!(now_ms())),
            "recipients": recipients,
            "sender": user_id,
            "message_id": sent.message_id,
            "context": body.get("context").filter(|c| c.is_object()).cloned().unwrap_or(json!({})),
        });
        let history = &mut self.state.channel_mut(channel_id)?.history;
        if history.len() >= MAX_HISTORY {
            history.remove(0);
        }
        history.push(message.clone());
        let event = self.state.record_sent(user_id, channel_id, sent);
        self.emit_sent(event);
        Ok(
            json!({"type": "message_up", "request_id": new_id(), "user_id": user_id, "body": message}),
        )
    }
}

fn button_click(
    user_id: &str,
    channel_id: &str,
    body: &Map<String, Value>,
) -> Result<Value, StateError> {
    let mut click = Map::new();
    click.insert("subtype".into(), json!("button_click"));
    click.insert("button_id".into(), json!(required_str(body, "button_id")?));
    click.insert("channel_id".into(), json!(channel_id));
    click.insert("sender".into(), json!(user_id));
    click.insert(
        "arguments".into(),
        Value::Array(click_arguments(body.get("arguments"))),
    );
    for key in ["bottom_button_id", "labels", "button_type"] {
        if let Some(v) = body.get(key) {
            click.insert(key.into(), v.clone());
        }
    }
    click.insert("context".into(), json!({}));
    Ok(json!({"type": "action", "request_id": new_id(), "user_id": user_id, "body": click}))
}

fn menu_item_click(
    user_id: &str,
    channel_id: &str,
    body: &Map<String, Value>,
) -> Result<Value, StateError> {
    let mut click = Map::new();
    click.insert("subtype".into(), json!("menu_item_click"));
    click.insert(
        "menu_item_id".into(),
        json!(required_str(body, "menu_item_id")?),
    );
    click.insert("channel_id".into(), json!(channel_id));
    click.insert("sender".into(), json!(user_id));
    click.insert(
        "message_id".into(),
        body.get("message_id").cloned().unwrap_or(Value::Null),
    );
    click.insert(
        "message_subtype".into(),
        body.get("message_subtype")
            .cloned()
            .unwrap_or(json!("text")),
    );
    click.insert(
        "message_content".into(),
        message_content(body.get("message_content")),
    );
    click.insert(
        "arguments".into(),
        Value::Array(click_arguments(body.get("arguments"))),
    );
    if let Some(v) = body.get("bottom_button_id") {
        click.insert("bottom_button_id".into(), v.clone());
    }
    click.insert("context".into(), json!({}));
    Ok(json!({"type": "action", "request_id": new_id(), "user_id": user_id, "body": click}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_arguments_unwraps_the_sdk_extra_list() {
        let args = json!([[{"label": "Name", "value": "Bob", "extra": 1}]]);
        assert_eq!(
            click_arguments(Some(&args)),
            vec![json!({"label": "Name", "value": "Bob"})]
        );
        assert_eq!(click_arguments(Some(&json!([[]]))), Vec::<Value>::new());
        assert_eq!(
            click_arguments(Some(&json!([{"label": "a", "value": "b"}]))),
            vec![json!({"label": "a", "value": "b"})]
        );
    }

    #[test]
    fn message_content_drops_unknown_keys() {
        let content = json!({"text": "hi", "bogus": true});
        assert_eq!(message_content(Some(&content)), json!({"text": "hi"}));
    }
}
