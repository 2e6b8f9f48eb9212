//! Frames a user client sends (user mode, docs/PROTOCOL.md 3.3): the login,
//! actions, and messages up. Built as JSON values: they are few (one per
//! script call), unlike the service's hot-path frames in `outbound`.

use serde_json::{json, Map, Value};

/// `user_login`: the first frame on a user's connection.
pub fn user_login(request_id: &str, access_token: &str) -> String {
    json!({
        "type": "user_login",
        "request_id": request_id,
        "auth_origin": "cognito",
        "access_token": access_token,
    })
    .to_string()
}

/// `action`: `body` holds `subtype` (`join_channel`, `leave_channel`,
/// `refresh`, `button_click`, `menu_item_click`), `channel_id` and the
/// subtype's keys.
pub fn action(request_id: &str, user_id: &str, body: &Map<String, Value>) -> String {
    json!({
        "type": "action",
        "request_id": request_id,
        "user_id": user_id,
        "body": body,
    })
    .to_string()
}

/// `message_up`, with `recipients` as a group id. Like the SDK, the user's
/// own id fills `service_id`.
pub fn message_up(request_id: &str, user_id: &str, body: &Map<String, Value>) -> String {
    json!({
        "type": "message_up",
        "request_id": request_id,
        "user_id": user_id,
        "service_id": user_id,
        "body": body,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_documented_shape() {
        let login: Value = serde_json::from_str(&user_login("r", "tok")).unwrap();
        assert_eq!(login["type"], "user_login");
        assert_eq!(login["auth_origin"], "cognito");
        let mut body = Map::new();
        body.insert("subtype".into(), json!("join_channel"));
        body.insert("channel_id".into(), json!("c"));
        let a: Value = serde_json::from_str(&action("r", "u", &body)).unwrap();
        assert_eq!(
            (a["user_id"].as_str(), a["body"]["subtype"].as_str()),
            (Some("u"), Some("join_channel"))
        );
        let m: Value = serde_json::from_str(&message_up("r", "u", &body)).unwrap();
        assert_eq!(m["service_id"], "u");
    }
}
