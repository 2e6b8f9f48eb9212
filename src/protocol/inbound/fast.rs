//! The frames that make up nearly all of the traffic (`copy`
//! acknowledgements, joins, leaves and refreshes) decoded straight into
//! their types: the envelope's body is borrowed unparsed and parsed once
//! into its struct. The general decoder builds a JSON tree of the whole
//! frame first (an allocation per key and value) and then converts it,
//! which cost more than the rest of a refresh's handling outside the script.
//!
//! This path only ever answers when it is sure: anything unusual (not an
//! object, a `message` field, a body that does not fit its type, other
//! kinds, duplicate keys) gives `None`, and the general decoder decides, so
//! the result is the same as the general decoder's in every case (the tests
//! compare them).

use super::{CopyBody, Inbound, SimpleAction};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
    /// Only looked at for presence: the API gateway's error frame has it.
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
}

/// Whether `json` is an object (serde would also take an array for a struct).
fn is_object(json: &str) -> bool {
    json.trim_start().starts_with('{')
}

/// The event in `text`, when it is one of the common frames and well formed.
pub(super) fn decode(text: &str) -> Option<Inbound> {
    if !is_object(text) {
        return None;
    }
    let envelope: Envelope = serde_json::from_str(text).ok()?;
    if envelope.message.is_some() {
        return None;
    }
    let body = envelope.body.map(RawValue::get).filter(|b| is_object(b))?;
    match envelope.kind.as_deref()? {
        "copy" => serde_json::from_str::<CopyBody>(body)
            .ok()
            .map(Inbound::Copy),
        "refresh" => {
            let mut action = serde_json::from_str::<SimpleAction>(body).ok()?;
            action.subtype = "refresh".into();
            Some(Inbound::Refresh(action))
        }
        "action" => {
            let action = serde_json::from_str::<SimpleAction>(body).ok()?;
            match action.subtype.as_str() {
                "join" => Some(Inbound::Join(action)),
                "leave" => Some(Inbound::Leave(action)),
                "refresh" => Some(Inbound::Refresh(action)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode_tree;

    /// Every frame here decodes to the same event (or error) either way;
    /// the fast path answers for the common ones and leaves the rest.
    #[test]
    fn agrees_with_the_general_decoder() {
        let answered = [
            r#"{"type": "action", "body": {"subtype": "refresh", "channel_id": "a95072a4", "context": {}, "sender": "e43c5534"}}"#,
            r#"{"type":"action","body":{"subtype":"join","channel_id":"c","sender":"u","context":{"x":[1,2.5,null]}}}"#,
            r#"{"type":"action","body":{"subtype":"leave","channel_id":"c\u00e9\n","sender":"u"}}"#,
            r#"{"type":"refresh","body":{"channel_id":"c","sender":"u"}}"#,
            r#"{"type":"refresh","body":{"subtype":"other","channel_id":"c","sender":"u"}}"#,
            r#"{"type":"copy","request_id":"r2","body":{"request_id":"r1","origin_type":"heartbeat","status":false}}"#,
            r#"{"type":"copy","body":{"request_id":"r1","status":true,"context":null,"extra":[{}]}}"#,
            r#"  {"body":{"status":true},"type":"copy","message":null}"#,
        ];
        let left = [
            r#"{"type":"action","body":{"subtype":"join","channel_id":"c"}}"#,
            r#"{"type":"action","body":{"subtype":"join","subtype":"leave","channel_id":"c","sender":"u"}}"#,
            r#"{"type":"action","type":"copy","body":{"subtype":"join","channel_id":"c","sender":"u"}}"#,
            r#"{"type":"action","body":["join","c","u",null]}"#,
            r#"["action",["join","c","u",null],null]"#,
            r#"{"type":"action","body":{"subtype":"button_click","button_id":"go","channel_id":"c","sender":"u"}}"#,
            r#"{"type":"action","body":{"subtype":7,"channel_id":"c","sender":"u"}}"#,
            r#"{"type":"copy","body":{"request_id":"r1"}}"#,
            r#"{"type":"copy","body":null}"#,
            r#"{"type":"copy"}"#,
            r#"{"type":"copy","body":{"status":true},"message":" Internal Server Error "}"#,
            r#"{"type":"message_up","body":{"subtype":"text","channel_id":"c","sender":"u"}}"#,
            r#"{"type":3,"body":{}}"#,
            r#"{"type":"refresh","body":{"channel_id":"c","sender":"u"}"#,
            "nope",
        ];
        for frame in answered {
            let fast = super::decode(frame);
            assert!(fast.is_some(), "{frame}");
            assert_eq!(fast, decode_tree(frame).ok(), "{frame}");
        }
        for frame in left {
            assert_eq!(super::decode(frame), None, "{frame}");
            // ...and the general decoder still decides it.
            let _ = decode_tree(frame);
        }
    }
}
