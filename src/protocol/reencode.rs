//! An upward event written back in the platform's frame shape.
//!
//! A cluster's gateway decodes each frame once (as a lone host does) and
//! passes the event on to the node that owns its channel through Redis.
//! Writing it back in the wire's own shape, rather than inventing a second
//! format, means the node reads it with the one decoder there is, and the
//! stream holds frames anyone can read against docs/PROTOCOL.md.

use super::inbound::Inbound;
use serde_json::{json, Value};

/// The frame `decode` reads back as `event`; `None` for what is not a
/// channel's event (acknowledgements, errors, user-mode frames).
pub fn to_frame(event: &Inbound) -> Option<Value> {
    let action = |body: Value| Some(json!({"type": "action", "body": body}));
    match event {
        Inbound::Join(a) | Inbound::Leave(a) | Inbound::Refresh(a) => {
            action(serde_json::to_value(a).ok()?)
        }
        Inbound::ButtonClick(c) | Inbound::MenuItemClick(c) => {
            action(Value::Object(c.body.clone()))
        }
        Inbound::MessageUp(m) => {
            Some(json!({"type": "message_up", "body": serde_json::to_value(m).ok()?}))
        }
        Inbound::Other(frame) => Some(frame.clone()),
        Inbound::Copy(_)
        | Inbound::MessageDown(_)
        | Inbound::Update { .. }
        | Inbound::GatewayError
        | Inbound::Error { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::inbound::decode;

    /// Every channel event the platform sends comes back equal.
    #[test]
    fn channel_events_survive_the_round_trip() {
        let frames = [
            r#"{"type":"action","body":{"subtype":"join","channel_id":"c","sender":"u","context":{}}}"#,
            r#"{"type":"action","body":{"subtype":"leave","channel_id":"c","sender":"u"}}"#,
            r#"{"type":"action","body":{"subtype":"refresh","channel_id":"c","sender":"u","context":{"a":1}}}"#,
            r#"{"type":"action","body":{"subtype":"button_click","channel_id":"c","sender":"u","button_id":"b","bottom_button_id":"x","arguments":[]}}"#,
            r#"{"type":"action","body":{"subtype":"menu_item_click","channel_id":"c","sender":"u","menu_item_id":"m"}}"#,
            r#"{"type":"message_up","body":{"subtype":"text","channel_id":"c","content":{"text":"hi"},"timestamp":1,"recipients":"g1","sender":"u","message_id":"m1","context":{}}}"#,
            r#"{"type":"something_new","body":{"x":1}}"#,
        ];
        for text in frames {
            let event = decode(text).unwrap();
            let back = to_frame(&event).expect("a channel event");
            assert_eq!(decode(&back.to_string()).unwrap(), event, "{text}");
        }
    }

    #[test]
    fn connection_frames_are_not_passed_on() {
        let copy = decode(r#"{"type":"copy","body":{"request_id":"r","status":true}}"#).unwrap();
        assert_eq!(to_frame(&copy), None);
    }
}
