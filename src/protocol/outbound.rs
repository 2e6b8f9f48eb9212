//! Frames the service sends to the platform, serialised straight from
//! borrowed data (no intermediate `serde_json::Value`), since these are built
//! once per downward event and sit on the hot path.

use serde::Serialize;

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

fn encode<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs of strings cannot fail.
    serde_json::to_string(value).unwrap_or_default()
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
    fn heartbeat_has_empty_body() {
        let v: Value = serde_json::from_str(&heartbeat("r")).unwrap();
        assert_eq!(v, json!({"type":"heartbeat","request_id":"r","body":{}}));
    }
}
