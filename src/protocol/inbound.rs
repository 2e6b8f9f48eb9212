//! Frames the platform sends to a service, decoded into typed events.
//!
//! Only what the host acts on is typed; everything else is kept as the raw
//! JSON object so that `on_unknown_payload` can see exactly what arrived.

use serde::Deserialize;
use serde_json::Value;

/// A join, leave or refresh: `{subtype, channel_id, sender, context}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Join(SimpleAction),
    Leave(SimpleAction),
    Refresh(SimpleAction),
    Copy(CopyBody),
    /// The API gateway's `{"message": "Internal server error"}` frame.
    GatewayError,
    /// Anything the host does not handle itself, as received.
    Other(Value),
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

/// Decodes one text frame.
pub fn decode(text: &str) -> Result<Inbound, DecodeError> {
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
    fn copy_ack() {
        let c = r#"{"type":"copy","request_id":"r2","body":{"request_id":"r1","origin_type":"heartbeat","status":false}}"#;
        assert!(matches!(decode(c).unwrap(), Inbound::Copy(b) if !b.status));
    }
}
