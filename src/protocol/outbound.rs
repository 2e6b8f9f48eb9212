//! Frames the service sends to the platform, serialised straight from
//! borrowed data (no intermediate `serde_json::Value`), since these are built
//! once per downward event and sit on the hot path.

use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct ServiceLogin<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: &'a str,
    auth_origin: &'static str,
    access_token: &'a str,
    service_id: &'a str,
}

/// `service_login`: the first frame on a connection; it has no `body`.
pub fn service_login(request_id: &str, access_token: &str, service_id: &str) -> String {
    encode(&ServiceLogin {
        kind: "service_login",
        request_id,
        auth_origin: "cognito",
        access_token,
        service_id,
    })
}

#[derive(Serialize)]
struct EmptyBody {}

#[derive(Serialize)]
struct Heartbeat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: &'a str,
    body: EmptyBody,
}

/// `heartbeat`, sent every 30 s.
pub fn heartbeat(request_id: &str) -> String {
    encode(&Heartbeat {
        kind: "heartbeat",
        request_id,
        body: EmptyBody {},
    })
}

#[derive(Serialize)]
struct Update<'a, B: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: &'a str,
    service_id: &'a str,
    body: B,
}

#[derive(Serialize)]
struct CharactersContent<'a> {
    characters: &'a str,
}

#[derive(Serialize)]
struct CharactersBody<'a> {
    subtype: &'static str,
    channel_id: &'a str,
    recipients: &'a str,
    content: CharactersContent<'a>,
}

/// `update/characters`: both the recipients and the character list travel as
/// group ids; the platform expands them.
pub fn update_characters(
    request_id: &str,
    service_id: &str,
    channel_id: &str,
    recipients_group: &str,
    characters_group: &str,
) -> String {
    encode(&Update {
        kind: "update",
        request_id,
        service_id,
        body: CharactersBody {
            subtype: "characters",
            channel_id,
            recipients: recipients_group,
            content: CharactersContent {
                characters: characters_group,
            },
        },
    })
}

#[derive(Serialize)]
struct UpdateBody<'a> {
    subtype: &'a str,
    channel_id: &'a str,
    recipients: &'a str,
    content: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<&'static str>,
    context: EmptyBody,
}

/// The kinds of view update that carry a content list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    Buttons,
    Canvas,
    Menu,
    Style,
}

impl UpdateKind {
    pub fn subtype(self) -> &'static str {
        match self {
            UpdateKind::Buttons => "buttons",
            UpdateKind::Canvas => "canvas",
            UpdateKind::Menu => "menu",
            UpdateKind::Style => "style",
        }
    }
}

/// `update/buttons|canvas|menu|style`. Buttons, canvas and style carry the
/// SDK's fixed `group_id: "temp"`; menus do not (docs/PROTOCOL.md 3.2).
pub fn update(
    request_id: &str,
    service_id: &str,
    kind: UpdateKind,
    channel_id: &str,
    recipients_group: &str,
    content: &Value,
) -> String {
    encode(&Update {
        kind: "update",
        request_id,
        service_id,
        body: UpdateBody {
            subtype: kind.subtype(),
            channel_id,
            recipients: recipients_group,
            content,
            group_id: (kind != UpdateKind::Menu).then_some("temp"),
            context: EmptyBody {},
        },
    })
}

#[derive(Serialize)]
struct ChannelInfoContext<'a> {
    channel_description: &'a str,
    channel_type: &'a str,
}

#[derive(Serialize)]
struct ChannelInfoBody<'a> {
    channel_id: &'a str,
    channel_name: &'a str,
    channel_description: &'a str,
    channel_type: &'a str,
    context: ChannelInfoContext<'a>,
}

#[derive(Serialize)]
struct ChannelInfoFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    subtype: &'static str,
    channel_id: &'a str,
    request_id: &'a str,
    service_id: &'a str,
    body: ChannelInfoBody<'a>,
}

/// `update/channel_info`: irregular on the wire, with `subtype` and
/// `channel_id` at the top level and no recipients (the whole channel).
pub fn channel_info(
    request_id: &str,
    service_id: &str,
    channel_id: &str,
    name: &str,
    description: &str,
    channel_type: &str,
) -> String {
    encode(&ChannelInfoFrame {
        kind: "update",
        subtype: "channel_info",
        channel_id,
        request_id,
        service_id,
        body: ChannelInfoBody {
            channel_id,
            channel_name: name,
            channel_description: description,
            channel_type,
            context: ChannelInfoContext {
                channel_description: description,
                channel_type,
            },
        },
    })
}

#[derive(Serialize)]
struct MessageDownBody<'a> {
    subtype: &'a str,
    channel_id: &'a str,
    content: &'a Value,
    recipients: &'a str,
    timestamp: i64,
    context: &'a Value,
    sender: &'a str,
}

#[derive(Serialize)]
struct MessageDown<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: &'a str,
    service_id: &'a str,
    body: MessageDownBody<'a>,
}

/// A message as the service sends it; `content` holds only non-null fields.
pub struct OutMessage<'a> {
    pub channel_id: &'a str,
    pub subtype: &'a str,
    pub content: &'a Value,
    pub recipients_group: &'a str,
    pub timestamp: i64,
    pub sender: &'a str,
    pub context: &'a Value,
}

/// `message_down`.
pub fn message_down(request_id: &str, service_id: &str, m: &OutMessage<'_>) -> String {
    encode(&MessageDown {
        kind: "message_down",
        request_id,
        service_id,
        body: MessageDownBody {
            subtype: m.subtype,
            channel_id: m.channel_id,
            content: m.content,
            recipients: m.recipients_group,
            timestamp: m.timestamp,
            context: m.context,
            sender: m.sender,
        },
    })
}

fn encode<T: Serialize>(value: &T) -> String {
    // Room for a view update's frame at once (serde_json starts at 128
    // bytes and doubles).
    let mut out = Vec::with_capacity(320);
    // Serialising these plain structs of strings cannot fail, and the
    // output of serde_json is UTF-8.
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn service_login_has_no_body() {
        let v: Value = serde_json::from_str(&service_login("r", "tok", "s1")).unwrap();
        assert_eq!(
            v,
            json!({"type":"service_login","request_id":"r","auth_origin":"cognito","access_token":"tok","service_id":"s1"})
        );
    }

    #[test]
    fn characters_update_carries_group_ids() {
        let v: Value =
            serde_json::from_str(&update_characters("r", "s1", "ch", "g-r", "g-c")).unwrap();
        assert_eq!(
            v,
            json!({"type":"update","request_id":"r","service_id":"s1",
                   "body":{"subtype":"characters","channel_id":"ch","recipients":"g-r",
                           "content":{"characters":"g-c"}}})
        );
    }

    #[test]
    fn update_bodies_follow_the_sdk() {
        let content = json!([{"button_id": "go", "button_text": "Go", "dialog": null}]);
        let b: Value =
            serde_json::from_str(&update("r", "s", UpdateKind::Buttons, "ch", "g", &content))
                .unwrap();
        assert_eq!(
            b["body"],
            json!({"subtype":"buttons","channel_id":"ch","recipients":"g","content":content,"group_id":"temp","context":{}})
        );
        let m: Value =
            serde_json::from_str(&update("r", "s", UpdateKind::Menu, "ch", "g", &json!([])))
                .unwrap();
        assert!(m["body"].get("group_id").is_none());
    }

    #[test]
    fn channel_info_is_irregular() {
        let v: Value =
            serde_json::from_str(&channel_info("r", "s", "ch", "Lobby", "d", "ccs")).unwrap();
        assert_eq!(v["subtype"], "channel_info");
        assert_eq!(v["channel_id"], "ch");
        assert!(v["body"].get("recipients").is_none());
        assert_eq!(
            v["body"]["context"],
            json!({"channel_description":"d","channel_type":"ccs"})
        );
    }

    #[test]
    fn message_down_shape() {
        let content = json!({"text": "hi"});
        let ctx = json!({});
        let m = OutMessage {
            channel_id: "ch",
            subtype: "text",
            content: &content,
            recipients_group: "g",
            timestamp: 5,
            sender: "a",
            context: &ctx,
        };
        let v: Value = serde_json::from_str(&message_down("r", "s", &m)).unwrap();
        assert_eq!(
            v,
            json!({"type":"message_down","request_id":"r","service_id":"s","body":{"subtype":"text","channel_id":"ch",
                   "content":{"text":"hi"},"recipients":"g","timestamp":5,"context":{},"sender":"a"}})
        );
    }

    #[test]
    fn heartbeat_has_empty_body() {
        let v: Value = serde_json::from_str(&heartbeat("r")).unwrap();
        assert_eq!(v, json!({"type":"heartbeat","request_id":"r","body":{}}));
    }
}
