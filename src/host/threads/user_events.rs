//! What a user receives, turned into user-mode handlers (docs/PROTOCOL.md
//! 3.7): `on_message_down`, `on_update_characters`, `on_update_buttons`,
//! `on_update_canvas`, `on_update_menu`, `on_update_style`,
//! `on_update_channel_info` and `on_copy`.
//!
//! A characters update carries a group id; it is expanded here (the SDK's
//! user mode fails to parse these, docs/PROTOCOL.md 9.3) and kept as the
//! channel's character list, which `fetch_member_ids` then answers from.

use crate::host::bridge::HostBridge;
use crate::host::threads::call;
use crate::script::{from_json, ServiceScript};
use rhai::{Dynamic, Map};
use serde_json::Value;

/// The handler for an update's subtype.
fn handler_of(subtype: &str) -> Option<&'static str> {
    Some(match subtype {
        "characters" => "on_update_characters",
        "buttons" => "on_update_buttons",
        "canvas" => "on_update_canvas",
        "menu" => "on_update_menu",
        "style" => "on_update_style",
        "channel_info" => "on_update_channel_info",
        _ => return None,
    })
}

/// `on_message_down(message)`: `#{subtype, channel_id, content, sender,
/// message_id, timestamp, context}` as received.
pub fn message_down(script: &mut ServiceScript, body: serde_json::Map<String, Value>) {
    call::run(
        script,
        "on_message_down",
        vec![from_json(&Value::Object(body))],
    );
}

/// `on_update_<subtype>(update)`: `#{channel_id, content}`; for characters,
/// `content.characters` is the list of ids.
pub fn update(
    script: &mut ServiceScript,
    bridge: &HostBridge,
    subtype: &str,
    channel_id: &str,
    mut body: serde_json::Map<String, Value>,
) {
    let Some(handler) = handler_of(subtype) else {
        call::run(
            script,
            "on_unknown_payload",
            vec![from_json(&Value::Object(body))],
        );
        return;
    };
    if subtype == "characters" {
        let group = body
            .get("content")
            .and_then(|c| c.get("characters"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(group) = group {
            match bridge.expand_group(&group, channel_id) {
                Ok(ids) => {
                    bridge.members.borrow_mut().replace(channel_id, ids.clone());
                    body.insert("content".into(), serde_json::json!({"characters": ids}));
                }
                Err(e) => {
                    tracing::warn!(%channel_id, error = %e, "cannot expand a characters update");
                    return;
                }
            }
        }
    }
    if !script.has_function(handler, 1) {
        return;
    }
    let mut update = Map::new();
    update.insert("channel_id".into(), Dynamic::from(channel_id.to_string()));
    let content = body.remove("content").unwrap_or(Value::Null);
    update.insert("content".into(), from_json(&content));
    update.insert("subtype".into(), Dynamic::from(subtype.to_string()));
    call::run(script, handler, vec![Dynamic::from_map(update)]);
}
