//! Frames the platform sends to a service, decoded into typed events.
//!
//! Only what the host acts on is typed; everything else is kept as the raw
//! JSON object so that `on_unknown_payload` can see exactly what arrived.

mod fast;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A join, leave or refresh: `{subtype, channel_id, sender, context}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SimpleAction {
    #[serde(default)]
    pub subtype: String,
    pub channel_id: String,
    pub sender: String,
    #[serde(default)]
    pub context: Option<Value>,
}

/// `copy`: the platform's acknowledgement of a frame the service sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CopyBody {
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub origin_type: Option<String>,
    pub status: bool,
    #[serde(default)]
    pub context: Option<Value>,
}

/// `message_up`: a message a user sent. `recipients` is still the group id
/// (or a list, if a platform sends one); the host expands it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MessageUp {
    pub subtype: String,
    pub channel_id: String,
    #[serde(default)]
    pub content: serde_json::Map<String, Value>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub recipients: Value,
    pub sender: String,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub context: Option<Value>,
}

/// A button or menu-item click: the body as received (scripts read the SDK's
/// field names from it), with the two fields the host needs checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    pub channel_id: String,
    pub sender: String,
    pub body: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Join(SimpleAction),
    Leave(SimpleAction),
    Refresh(SimpleAction),
    MessageUp(MessageUp),
    ButtonClick(Click),
    MenuItemClick(Click),
    Copy(CopyBody),
    /// What a user receives (user mode): a message, as its body.
    MessageDown(serde_json::Map<String, Value>),
    /// What a user receives (user mode): a view update (`characters`,
    /// `buttons`, `canvas`, `menu`, `style`, `channel_info`), as its body.
    Update {
        subtype: String,
        channel_id: String,
        body: serde_json::Map<String, Value>,
    },
    /// The API gateway's `{"message": "Internal server error"}` frame.
    GatewayError,
    /// `{"type": "error", "body": {"origin_type", "message"}}`: the platform
    /// refused a frame (a login with a rejected token, for one).
    Error {
        origin_type: String,
        message: String,
    },
    /// Anything the host does not handle itself, as received.
    Other(Value),
}

impl Inbound {
    /// The channel the event belongs to, when it names one.
    pub fn channel_id(&self) -> Option<&str> {
        match self {
            Inbound::Join(a) | Inbound::Leave(a) | Inbound::Refresh(a) => Some(&a.channel_id),
            Inbound::MessageUp(m) => Some(&m.channel_id),
            Inbound::ButtonClick(c) | Inbound::MenuItemClick(c) => Some(&c.channel_id),
            Inbound::Update { channel_id, .. } => Some(channel_id),
            _ => None,
        }
    }

    /// A short name of the event's kind (for metrics and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Inbound::Join(_) => "join",
            Inbound::Leave(_) => "leave",
            Inbound::Refresh(_) => "refresh",
            Inbound::MessageUp(_) => "message_up",
            Inbound::ButtonClick(_) => "button_click",
            Inbound::MenuItemClick(_) => "menu_item_click",
            Inbound::Copy(_) => "copy",
            Inbound::MessageDown(_) => "message_down",
            Inbound::Update { .. } => "update",
            Inbound::GatewayError => "gateway_error",
            Inbound::Error { .. } => "error",
            Inbound::Other(_) => "other",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("frame is not a JSON object")]
    NotObject,
    #[error("`{kind}` frame has a malformed body: {reason}")]
    BadBody { kind: String, reason: String },
}

/// Whether a frame may concern the connection itself (an acknowledgement or
/// an error), which the link must act on. A look at the text, not a decode:
/// the link decodes only these and hands the rest on as text, so the
/// decoding of ordinary events happens off the task that owns the socket.
/// A false positive only moves where a frame is decoded.
pub fn may_concern_connection(text: &str) -> bool {
    text.contains("\"copy\"") || text.contains("\"error\"")
}

/// Decodes one text frame.
pub fn decode(text: &str) -> Result<Inbound, DecodeError> {
    match fast::decode(text) {
        Some(event) => Ok(event),
        None => decode_tree(text),
    }
}

/// Decodes one text frame through a JSON tree of all of it: every kind of
/// frame, and the errors. [`fast`] answers for the common frames.
fn decode_tree(text: &str) -> Result<Inbound, DecodeError> {
    let frame: Value = serde_json::from_str(text).map_err(DecodeError::NotJson)?;
    let obj = frame.as_object().ok_or(DecodeError::NotObject)?;
    if let Some(Value::String(m)) = obj.get("message") {
        if m.trim().eq_ignore_ascii_case("internal server error") {
            return Ok(Inbound::GatewayError);
        }
    }
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let body = obj.get("body");
    let subtype = body
        .and_then(|b| b.get("subtype"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match (kind, subtype) {
        ("action", "join") => simple(kind, body).map(Inbound::Join),
        ("action", "leave") => simple(kind, body).map(Inbound::Leave),
        ("action", "refresh") | ("refresh", _) => simple(kind, body).map(|mut a| {
            a.subtype = "refresh".into();
            Inbound::Refresh(a)
        }),
        ("action", "button_click") => click(kind, body).map(Inbound::ButtonClick),
        ("action", "menu_item_click") => click(kind, body).map(Inbound::MenuItemClick),
        ("message_up", _) => {
            let body = body.cloned().unwrap_or(Value::Null);
            serde_json::from_value(body)
                .map(Inbound::MessageUp)
                .map_err(|e| bad(kind, e))
        }
        ("error", _) => {
            let field = |k: &str| {
                body.and_then(|b| b.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            Ok(Inbound::Error {
                origin_type: field("origin_type"),
                message: field("message"),
            })
        }
        ("message_down", _) => match body {
            Some(Value::Object(b)) => Ok(Inbound::MessageDown(b.clone())),
            _ => Err(DecodeError::BadBody {
                kind: kind.into(),
                reason: "no body".into(),
            }),
        },
        ("update", _) => {
            let b = body
                .and_then(Value::as_object)
                .ok_or_else(|| DecodeError::BadBody {
                    kind: kind.into(),
                    reason: "no body".into(),
                })?;
            let channel_id = b.get("channel_id").and_then(Value::as_str).unwrap_or("");
            Ok(Inbound::Update {
                subtype: subtype.to_string(),
                channel_id: channel_id.to_string(),
                body: b.clone(),
            })
        }
        ("copy", _) => {
            let body = body.cloned().unwrap_or(Value::Null);
            serde_json::from_value(body)
                .map(Inbound::Copy)
                .map_err(|e| bad(kind, e))
        }
        _ => Ok(Inbound::Other(frame)),
    }
}

fn simple(kind: &str, body: Option<&Value>) -> Result<SimpleAction, DecodeError> {
    let body = body.ok_or_else(|| DecodeError::BadBody {
        kind: kind.into(),
        reason: "no body".into(),
    })?;
    SimpleAction::deserialize(body).map_err(|e| bad(kind, e))
}

fn click(kind: &str, body: Option<&Value>) -> Result<Click, DecodeError> {
    let body = body
        .and_then(Value::as_object)
        .ok_or_else(|| DecodeError::BadBody {
            kind: kind.into(),
            reason: "no body".into(),
        })?;
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| DecodeError::BadBody {
                kind: kind.into(),
                reason: format!("missing field `{k}`"),
            })
    };
    Ok(Click {
        channel_id: field("channel_id")?,
        sender: field("sender")?,
        body: body.clone(),
    })
}

fn bad(kind: &str, e: serde_json::Error) -> DecodeError {
    DecodeError::BadBody {
        kind: kind.into(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_refresh_from_the_tutorial_log() {
        let f = r#"{"type": "action", "body": {"subtype": "refresh", "channel_id": "a95072a4", "context": {}, "sender": "e43c5534"}}"#;
        match decode(f).unwrap() {
            Inbound::Refresh(a) => {
                assert_eq!(a.channel_id, "a95072a4");
                assert_eq!(a.sender, "e43c5534");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn legacy_refresh_type_is_a_refresh() {
        let f = r#"{"type":"refresh","body":{"channel_id":"c","sender":"u"}}"#;
        assert!(matches!(decode(f).unwrap(), Inbound::Refresh(a) if a.subtype == "refresh"));
    }

    #[test]
    fn join_leave_and_unknown() {
        let j = r#"{"type":"action","body":{"subtype":"join","channel_id":"c","sender":"u","context":{}}}"#;
        let l = r#"{"type":"action","body":{"subtype":"leave","channel_id":"c","sender":"u"}}"#;
        let u = r#"{"type":"roger","body":{}}"#;
        assert!(matches!(decode(j).unwrap(), Inbound::Join(_)));
        assert!(matches!(decode(l).unwrap(), Inbound::Leave(_)));
        assert!(matches!(decode(u).unwrap(), Inbound::Other(_)));
    }

    #[test]
    fn malformed_action_and_gateway_error() {
        let j = r#"{"type":"action","body":{"subtype":"join","channel_id":"c"}}"#;
        assert!(matches!(decode(j), Err(DecodeError::BadBody { .. })));
        assert!(matches!(decode("nope"), Err(DecodeError::NotJson(_))));
        let g = r#"{"message":" Internal Server Error "}"#;
        assert_eq!(decode(g).unwrap(), Inbound::GatewayError);
    }

    #[test]
    fn message_up_and_clicks() {
        let m = r#"{"type":"message_up","request_id":"r1","user_id":"u1","body":{"subtype":"text","channel_id":"ch1","content":{"text":"hi"},"timestamp":1721880000000,"recipients":"g-42","sender":"u1","message_id":"m-9","context":{"group_id":"g-42"}}}"#;
        match decode(m).unwrap() {
            Inbound::MessageUp(b) => {
                assert_eq!(
                    (b.sender.as_str(), b.recipients.as_str()),
                    ("u1", Some("g-42"))
                );
                assert_eq!(b.content["text"], "hi");
            }
            other => panic!("{other:?}"),
        }
        let b = r#"{"type":"action","body":{"subtype":"button_click","button_id":"go","channel_id":"ch1","sender":"u1","arguments":[{"label":"Name","value":"Bob"}],"bottom_button_id":"confirm","context":{}}}"#;
        assert!(
            matches!(decode(b).unwrap(), Inbound::ButtonClick(c) if c.body["button_id"] == "go")
        );
        let mc = r#"{"type":"action","body":{"subtype":"menu_item_click","menu_item_id":"m1","message_id":"m-9","message_subtype":"text","message_content":{"text":"hi"},"channel_id":"ch1","sender":"u1","context":{}}}"#;
        assert!(matches!(decode(mc).unwrap(), Inbound::MenuItemClick(c) if c.sender == "u1"));
        let bad = r#"{"type":"action","body":{"subtype":"button_click","button_id":"go"}}"#;
        assert!(decode(bad).is_err());
    }

    #[test]
    fn what_a_user_receives() {
        let m = r#"{"type":"message_down","body":{"subtype":"text","channel_id":"c","content":{"text":"hi"},"sender":"s","message_id":"m1","timestamp":1,"context":{}}}"#;
        assert!(
            matches!(decode(m).unwrap(), Inbound::MessageDown(b) if b["content"]["text"] == "hi")
        );
        let u = r#"{"type":"update","body":{"subtype":"characters","channel_id":"c","content":{"characters":"g1"}}}"#;
        match decode(u).unwrap() {
            Inbound::Update {
                subtype,
                channel_id,
                body,
            } => {
                assert_eq!((subtype.as_str(), channel_id.as_str()), ("characters", "c"));
                assert_eq!(body["content"]["characters"], "g1");
            }
            other => panic!("{other:?}"),
        }
        assert!(decode(r#"{"type":"update"}"#).is_err());
    }

    #[test]
    fn copy_ack() {
        let c = r#"{"type":"copy","request_id":"r2","body":{"request_id":"r1","origin_type":"heartbeat","status":false}}"#;
        assert!(matches!(decode(c).unwrap(), Inbound::Copy(b) if !b.status));
    }
}
