//! The control API's richer user actions (message, button click, menu item
//! click) as a fake service sees them: exact key sets, recipients resolved
//! from names, click arguments, the received-message lookup, and the errors.

mod sandbox_support;

use sandbox_support::{keys, Served, MESSAGE_BODY_KEYS};
use serde_json::{json, Value};

/// alice, bob and carol, joined in that order before the service connects.
async fn trio(s: &Served) -> [String; 3] {
    let mut ids = Vec::new();
    for name in ["alice", "bob", "carol"] {
        ids.push(s.control.create_user(name).user_id);
        let joined = s.control.act(name, &s.channel_id, "join").await;
        assert!(matches!(joined, Ok(false)), "no service connected yet");
    }
    [ids[0].clone(), ids[1].clone(), ids[2].clone()]
}

#[tokio::test]
async fn message_action_sends_message_up_with_a_resolvable_group() {
    let s = Served::start().await;
    let [alice, bob, carol] = trio(&s).await;
    let meow = s.agent("Meow").await;
    let mut service = s.service_ws().await;

    // Flat fields, recipients by name and by id.
    let (status, answer) = s
        .act(
            json!({"user": "alice", "action": "message", "subtype": "text", "text": "hi",
                    "recipients": ["bob", carol]}),
        )
        .await;
    assert_eq!((status, answer), (200, json!({"delivered": true})));
    let up = service.next_event().await;
    assert_eq!(keys(&up), ["body", "request_id", "type", "user_id"]);
    assert_eq!(up["type"], "message_up");
    assert_eq!(up["user_id"], alice.as_str());
    let body = &up["body"];
    assert_eq!(keys(body), MESSAGE_BODY_KEYS);
    assert_eq!(body["subtype"], "text");
    assert_eq!(body["channel_id"], s.channel_id.as_str());
    assert_eq!(body["content"], json!({"text": "hi"}));
    assert_eq!(body["sender"], alice.as_str());
    assert_eq!(body["context"], json!({}));
    assert!(body["timestamp"].is_i64());
    let first_id = body["message_id"].as_str().expect("message id").to_string();
    let group = body["recipients"].as_str().expect("a group id string");
    assert_eq!(s.expand(group, &alice).await, json!([bob, carol]));

    // No recipients: every member; content from a `content` object; an
    // agent named as a recipient.
    let (status, _) = s
        .act(
            json!({"user": "bob", "action": "message", "subtype": "card",
                    "content": {"link": "https://x/y", "title": "T", "button": "Open"}}),
        )
        .await;
    assert_eq!(status, 200);
    let up = service.next_event().await;
    assert_eq!(keys(&up["body"]), MESSAGE_BODY_KEYS);
    assert_eq!(up["body"]["subtype"], "card");
    assert_eq!(
        up["body"]["content"],
        json!({"link": "https://x/y", "title": "T", "button": "Open"})
    );
    assert_ne!(up["body"]["message_id"], first_id.as_str());
    let everyone = up["body"]["recipients"].as_str().expect("group id");
    assert_eq!(s.expand(everyone, &bob).await, json!([alice, bob, carol]));

    let (status, _) = s
        .act(
            json!({"user": "carol", "action": "message", "text": "psst", "recipients": ["Meow"],
                    "path": "https://x/f.txt", "filename": "f.txt", "size": 12}),
        )
        .await;
    assert_eq!(status, 200);
    let up = service.next_event().await;
    assert_eq!(up["body"]["subtype"], "text", "subtype defaults to text");
    assert_eq!(
        up["body"]["content"],
        json!({"text": "psst", "path": "https://x/f.txt", "filename": "f.txt", "size": 12})
    );
    let to_agent = up["body"]["recipients"].as_str().expect("group id");
    assert_eq!(s.expand(to_agent, &carol).await, json!([meow]));

    // The older `body` form still works.
    let (status, _) = s
        .act(json!({"user": "alice", "action": "message",
                    "body": {"content": {"text": "old style"}, "recipients": ["alice"]}}))
        .await;
    assert_eq!(status, 200);
    let up = service.next_event().await;
    assert_eq!(up["body"]["content"], json!({"text": "old style"}));

    // Errors: unknown recipient 404, malformed fields 400 naming the field.
    let (status, answer) = s
        .act(json!({"user": "alice", "action": "message", "text": "x", "recipients": ["zed"]}))
        .await;
    assert_eq!(status, 404);
    assert!(
        answer["error"].as_str().unwrap_or_default().contains("zed"),
        "{answer}"
    );
    for (request, field) in [
        (json!({"text": 5}), "text"),
        (json!({"recipients": "bob", "size": -1}), "size"),
        (json!({"recipients": {"bob": 1}}), "recipients"),
        (json!({"content": {"colour": "red"}}), "content.colour"),
    ] {
        let mut request = request;
        request["user"] = json!("alice");
        request["action"] = json!("message");
        let (status, answer) = s.act(request.clone()).await;
        assert_eq!(status, 400, "{request}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(field), "{request}: {error}");
    }
    // Nothing else reached the service: the next frame is the ack of this heartbeat.
    service
        .send(json!({"type": "heartbeat", "request_id": "hb", "body": {}}))
        .await;
    assert_eq!(service.next_json().await["body"]["request_id"], "hb");
    s.sandbox.shutdown().await;
}

#[tokio::test]
async fn button_click_action_sends_the_button_click_key_set() {
    let s = Served::start().await;
    let [alice, ..] = trio(&s).await;
    let mut service = s.service_ws().await;

    let (status, answer) = s
        .act(
            json!({"user": "alice", "action": "button_click", "button_id": "vip",
                    "arguments": [{"label": "Fruit", "value": "apple"}], "bottom_button_id": "ok"}),
        )
        .await;
    assert_eq!((status, answer), (200, json!({"delivered": true})));
    let click = service.next_event().await;
    assert_eq!(keys(&click), ["body", "request_id", "type", "user_id"]);
    assert_eq!(click["type"], "action");
    assert_eq!(
        click["body"],
        json!({"subtype": "button_click", "button_id": "vip", "channel_id": s.channel_id,
               "sender": alice, "arguments": [{"label": "Fruit", "value": "apple"}],
               "bottom_button_id": "ok", "context": {}})
    );

    // Arguments as an object; bottom button defaults to "confirm".
    let (status, _) = s
        .act(
            json!({"user": "alice", "action": "button_click", "button_id": "go",
                    "arguments": {"Fruit": "pear", "Count": 2}}),
        )
        .await;
    assert_eq!(status, 200);
    let click = service.next_event().await;
    assert_eq!(
        keys(&click["body"]),
        [
            "arguments",
            "bottom_button_id",
            "button_id",
            "channel_id",
            "context",
            "sender",
            "subtype"
        ]
    );
    assert_eq!(click["body"]["bottom_button_id"], "confirm");
    let mut arguments: Vec<Value> = click["body"]["arguments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    arguments.sort_by_key(|a| a["label"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        arguments,
        [
            json!({"label": "Count", "value": "2"}),
            json!({"label": "Fruit", "value": "pear"})
        ]
    );

    for (request, field) in [
        (json!({}), "button_id"),
        (json!({"button_id": 7}), "button_id"),
        (json!({"button_id": "b", "arguments": 3}), "arguments"),
        (
            json!({"button_id": "b", "arguments": [{"label": "a"}]}),
            "arguments[0].value",
        ),
        (
            json!({"button_id": "b", "bottom_button_id": false}),
            "bottom_button_id",
        ),
    ] {
        let mut request = request;
        request["user"] = json!("alice");
        request["action"] = json!("button_click");
        let (status, answer) = s.act(request.clone()).await;
        assert_eq!(status, 400, "{request}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(field), "{request}: {error}");
    }
    s.sandbox.shutdown().await;
}

#[tokio::test]
async fn menu_item_click_looks_up_the_received_message() {
    let s = Served::start().await;
    let [alice, bob, _] = trio(&s).await;
    let meow = s.agent("Meow").await;
    let mut service = s.service_ws().await;

    // Only alice receives the message.
    let to_alice = s.group(&[&alice]).await;
    s.send_acked(
        &mut service,
        json!({"type": "message_down", "service_id": s.service_id, "body": {
            "subtype": "text", "channel_id": s.channel_id, "content": {"text": "quote me"},
            "recipients": to_alice, "timestamp": 1_721_880_000_000_i64, "context": {},
            "sender": meow}}),
    )
    .await;
    let view = s.control.view("alice", &s.channel_id).expect("view");
    let message_id = view.messages[0].message_id.clone();

    let (status, answer) = s
        .act(
            json!({"user": "alice", "action": "menu_item_click", "menu_item_id": "m1",
                    "message_id": message_id, "arguments": {"Note": "nice"}}),
        )
        .await;
    assert_eq!((status, answer), (200, json!({"delivered": true})));
    let click = service.next_event().await;
    assert_eq!(keys(&click), ["body", "request_id", "type", "user_id"]);
    assert_eq!(
        click["body"],
        json!({"subtype": "menu_item_click", "menu_item_id": "m1", "channel_id": s.channel_id,
               "sender": alice, "message_id": message_id, "message_subtype": "text",
               "message_content": {"text": "quote me"},
               "arguments": [{"label": "Note", "value": "nice"}],
               "bottom_button_id": "confirm", "context": {}})
    );

    // Bob never received it; an unknown id is unknown to everyone.
    let (status, answer) = s
        .act(
            json!({"user": bob, "action": "menu_item_click", "menu_item_id": "m1",
                    "message_id": message_id}),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"].is_string());
    let (status, _) = s
        .act(
            json!({"user": "alice", "action": "menu_item_click", "menu_item_id": "m1",
                    "message_id": "no-such-message"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, answer) = s
        .act(json!({"user": "alice", "action": "menu_item_click", "menu_item_id": "m1"}))
        .await;
    assert_eq!(status, 400);
    assert!(answer["error"]
        .as_str()
        .unwrap_or_default()
        .contains("message_id"));
    s.sandbox.shutdown().await;
}
