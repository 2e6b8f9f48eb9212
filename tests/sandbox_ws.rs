//! The sandbox's WebSocket side: a fake service and a fake user client speak
//! the wire protocol while the control API acts as simulated users.

mod sandbox_support;

use sandbox_support::{keys, Served, Ws, DEADLINE, MESSAGE_BODY_KEYS};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A signed-in service account with one service bound to a fresh channel.
/// A sandbox with a service created and bound to a channel.
type World = Served;

async fn world() -> World {
    Served::start().await
}

#[tokio::test]
async fn heartbeat_is_acked_and_pings_are_answered() {
    let w = world().await;
    let mut ws = w.service_ws().await;
    ws.send(json!({"type": "heartbeat", "request_id": "hb-1", "body": {}}))
        .await;
    let ack = ws.ack_of("hb-1").await;
    assert_eq!(
        ack["body"],
        json!({"request_id": "hb-1", "origin_type": "heartbeat", "status": true, "context": {"message": "ok"}})
    );
    assert!(ack["request_id"].is_string());

    ws.send_raw(Message::Ping(b"are you there".to_vec().into()))
        .await;
    loop {
        if let Message::Pong(payload) = ws.next_message().await {
            assert_eq!(payload.as_ref(), b"are you there");
            break;
        }
    }
    // Garbage is ignored without closing the socket.
    ws.send_raw(Message::text("not json")).await;
    ws.send(json!({"type": "heartbeat", "request_id": "hb-2"}))
        .await;
    ws.ack_of("hb-2").await;
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_bad_login_gets_one_error_frame_and_no_false_copy() {
    let w = world().await;
    let mut ws = Ws::connect(&w.sandbox.ws_url()).await;
    ws.send(json!({"type": "service_login", "request_id": "bad", "access_token": "wrong", "service_id": w.service_id}))
        .await;
    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["body"]["request_id"], "bad");
    // Still open and unauthenticated: a heartbeat is acked, a service frame is not.
    ws.send(json!({"type": "update", "request_id": "u-1", "body": {}}))
        .await;
    ws.send(json!({"type": "heartbeat", "request_id": "hb"}))
        .await;
    let next = ws.next_json().await;
    assert_eq!(
        next["body"]["request_id"], "hb",
        "no ack for the unauthenticated update: {next}"
    );
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn join_reaches_the_service_and_updates_reach_the_user() {
    let w = world().await;
    let mut service = w.service_ws().await;
    let mut events = w.control.subscribe();
    let alice = w.control.create_user("alice");

    // A join through the control API: ground truth first, then join + refresh.
    assert!(w
        .control
        .act("alice", &w.channel_id, "join")
        .await
        .expect("join"));
    let join = service.next_event().await;
    assert_eq!(
        join,
        json!({"type": "action", "body": {"subtype": "join", "channel_id": w.channel_id, "sender": alice.user_id, "context": {}}})
    );
    let refresh = service.next_event().await;
    assert_eq!(keys(&refresh), ["body", "type"]);
    assert_eq!(
        keys(&refresh["body"]),
        ["channel_id", "context", "sender", "subtype"]
    );
    assert_eq!(refresh["body"]["subtype"], "refresh");
    let members = w.control.members(&w.channel_id).expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].name, "alice");

    // Alice's own client logs in with the credentials the control API gave.
    let alice_token = w.api.sign_in(&alice.email, &alice.password).await;
    let mut client = Ws::connect(&w.sandbox.ws_url()).await;
    client
        .send(json!({"type": "user_login", "request_id": "ul", "access_token": alice_token}))
        .await;
    client.ack_of("ul").await;

    // The service sends characters: the user's view gets names, version 1.
    let agent = w
        .api
        .ok("POST", "/service/character/create", &w.token, Some(json!({"service_id": w.service_id, "context": {"name": "Meow", "avatar": "https://x/m.png", "description": null}})))
        .await;
    let agent_id = agent["character_id"]
        .as_str()
        .expect("agent id")
        .to_string();
    let characters = w.group(&[&alice.user_id, &agent_id]).await;
    let recipients = w.group(&[&alice.user_id, "stranger"]).await;
    service
        .send(
            json!({"type": "update", "request_id": "up-1", "service_id": w.service_id, "body": {
            "subtype": "characters", "channel_id": w.channel_id, "recipients": recipients,
            "content": {"characters": characters}}}),
        )
        .await;
    let event = tokio::time::timeout(DEADLINE, events.recv())
        .await
        .expect("event in time")
        .expect("event");
    assert_eq!((event.user_name.as_str(), event.version), ("alice", 1));
    let view = w.control.view("alice", &w.channel_id).expect("view");
    assert_eq!(view.version, 1);
    let names: Vec<&str> = view.characters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["alice", "Meow"]);
    assert_eq!(
        view.characters[1].avatar.as_deref(),
        Some("https://x/m.png")
    );
    let forwarded = client.next_event().await;
    assert_eq!(
        forwarded["body"]["content"]["characters"],
        characters.as_str()
    );
    assert!(forwarded["body"].get("recipients").is_none(), "{forwarded}");

    // Buttons and a message follow, in order, without recipients.
    service
        .send(json!({"type": "update", "request_id": "up-2", "service_id": w.service_id, "body": {
            "subtype": "buttons", "channel_id": w.channel_id, "recipients": recipients,
            "content": [{"button_id": "go", "button_text": "Go", "dialog": null}], "group_id": "temp", "context": {}}}))
        .await;
    service
        .send(json!({"type": "message_down", "request_id": "md-1", "service_id": w.service_id, "body": {
            "subtype": "text", "channel_id": w.channel_id, "content": {"text": "hi"}, "recipients": recipients,
            "timestamp": 1_721_880_000_000_i64, "context": {}, "sender": agent_id}}))
        .await;
    let buttons = client.next_event().await;
    assert_eq!(buttons["body"]["subtype"], "buttons");
    assert!(buttons["body"].get("recipients").is_none());
    let message = client.next_event().await;
    assert_eq!(message["type"], "message_down");
    assert!(message["body"]["message_id"].is_string());
    assert!(message["body"].get("recipients").is_none());
    let view = w.control.view(&alice.user_id, &w.channel_id).expect("view");
    assert_eq!(view.version, 3);
    assert_eq!(
        view.buttons,
        vec![json!({"button_id": "go", "button_text": "Go", "dialog": null})]
    );
    assert_eq!(view.messages[0].content, json!({"text": "hi"}));

    // A message from the user's client reaches the service with the exact key set.
    let channel_group = w
        .api
        .ok(
            "POST",
            "/user/group/create",
            &alice_token,
            Some(json!({"channel_id": w.channel_id, "group_name": "g", "characters": [agent_id]})),
        )
        .await["group_id"]
        .clone();
    client
        .send(json!({"type": "message_up", "request_id": "mu", "user_id": alice.user_id, "service_id": alice.user_id, "body": {
            "subtype": "text", "channel_id": w.channel_id, "content": {"text": "hello"},
            "recipients": channel_group, "timestamp": 1_721_880_000_001_i64, "context": {}}}))
        .await;
    let up = service.next_event().await;
    assert_eq!(up["type"], "message_up");
    assert_eq!(keys(&up["body"]), MESSAGE_BODY_KEYS);
    assert_eq!(up["body"]["recipients"], channel_group);
    assert_eq!(up["body"]["sender"], alice.user_id.as_str());

    // A click from the client: the SDK's extra list is unwrapped.
    client
        .send(json!({"type": "action", "request_id": "bc", "user_id": alice.user_id, "body": {
            "subtype": "button_click", "button_id": "go", "channel_id": w.channel_id,
            "arguments": [[{"label": "Name", "value": "Bob"}]], "bottom_button_id": "confirm", "context": {}}}))
        .await;
    let click = service.next_event().await;
    assert_eq!(
        click["body"]["arguments"],
        json!([{"label": "Name", "value": "Bob"}])
    );
    assert_eq!(click["body"]["sender"], alice.user_id.as_str());

    // Leaving from the client: removed first, then `leave`.
    client
        .send(
            json!({"type": "action", "request_id": "lv", "user_id": alice.user_id, "body": {
            "subtype": "leave_channel", "channel_id": w.channel_id, "context": {}}}),
        )
        .await;
    let leave = service.next_event().await;
    assert_eq!(
        leave,
        json!({"type": "action", "body": {"subtype": "leave", "channel_id": w.channel_id, "sender": alice.user_id, "context": {}}})
    );
    assert!(w
        .control
        .members(&w.channel_id)
        .expect("members")
        .is_empty());
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn updates_skip_non_members_and_unbound_services() {
    let w = world().await;
    let mut service = w.service_ws().await;
    let bob = w.control.create_user("bob");
    let recipients = w.group(&[&bob.user_id]).await;
    service
        .send(json!({"type": "update", "request_id": "x", "body": {
            "subtype": "canvas", "channel_id": w.channel_id, "recipients": recipients,
            "content": [{"text": "t", "path": null}]}}))
        .await;
    service.ack_of("x").await;
    assert_eq!(
        w.control.view("bob", &w.channel_id).expect("view").version,
        0
    );

    w.control
        .act("bob", &w.channel_id, "join")
        .await
        .expect("join");
    // A second service of the same account, not bound to the channel, is ignored.
    let other = w.api.ok("POST", "/service/create", &w.token, None).await["service_id"].clone();
    let mut intruder = Ws::connect(&w.sandbox.ws_url()).await;
    intruder
        .send(json!({"type": "service_login", "request_id": "l2", "access_token": w.token, "service_id": other}))
        .await;
    intruder.ack_of("l2").await;
    intruder
        .send(json!({"type": "update", "request_id": "z", "body": {
            "subtype": "canvas", "channel_id": w.channel_id, "recipients": recipients,
            "content": [{"text": "intruder", "path": null}]}}))
        .await;
    intruder.ack_of("z").await;
    assert_eq!(
        w.control.view("bob", &w.channel_id).expect("view").version,
        0
    );

    // Now that bob is a member, the bound service's update lands.
    service
        .send(json!({"type": "update", "request_id": "y", "body": {
            "subtype": "canvas", "channel_id": w.channel_id, "recipients": recipients,
            "content": [{"text": "t", "path": null}]}}))
        .await;
    service.ack_of("y").await;
    let view: Value =
        serde_json::to_value(w.control.view("bob", &w.channel_id).expect("view")).expect("json");
    assert_eq!(view["canvas"], json!([{"text": "t", "path": null}]));
    assert_eq!(view["version"], 1);
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections() {
    let w = world().await;
    let mut service = w.service_ws().await;
    let ws_url = w.sandbox.ws_url();
    w.sandbox.shutdown().await;
    // The socket ends (a close frame, then the end of the stream).
    loop {
        match tokio::time::timeout(DEADLINE, service.next_raw())
            .await
            .expect("closed before the deadline")
        {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(
        tokio_tungstenite::connect_async(&ws_url).await.is_err(),
        "listener is gone"
    );
}

#[tokio::test]
async fn too_many_failed_logins_close_the_socket_with_the_reason() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let w = world().await;
    let limit = moobius_host::sandbox::MAX_FAILED_LOGINS;
    assert!(limit >= 2, "the test needs room before the limit");
    let mut ws = Ws::connect(&w.sandbox.ws_url()).await;
    let bad_login = |n: u32| {
        let id = format!("bad-{n}");
        // Both kinds of login count towards the same limit.
        let frame = if n % 2 == 0 {
            json!({"type": "service_login", "request_id": id, "access_token": "wrong", "service_id": w.service_id})
        } else {
            json!({"type": "user_login", "request_id": id, "access_token": "wrong"})
        };
        (id, frame)
    };
    for n in 1..limit {
        let (id, frame) = bad_login(n);
        ws.send(frame).await;
        let error = ws.next_json().await;
        assert_eq!(
            (error["type"].as_str(), error["body"]["request_id"].as_str()),
            (Some("error"), Some(id.as_str()))
        );
        // Still open: a heartbeat is acknowledged.
        let hb = format!("hb-{n}");
        ws.send(json!({"type": "heartbeat", "request_id": hb}))
            .await;
        ws.ack_of(&hb).await;
    }
    let (id, frame) = bad_login(limit);
    ws.send(frame).await;
    let error = ws.next_json().await;
    assert_eq!(error["body"]["request_id"], id.as_str(), "{error}");
    match ws.next_message().await {
        Message::Close(Some(close)) => {
            assert_eq!(close.code, CloseCode::Policy);
            assert!(
                close.reason.contains("too many failed logins"),
                "{}",
                close.reason
            );
        }
        other => panic!("expected a close frame after {limit} failed logins, got {other:?}"),
    }
    let end = tokio::time::timeout(DEADLINE, ws.next_raw())
        .await
        .expect("the socket ends before the deadline");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
    // The limit is per connection: a new one logs in.
    let _service = w.service_ws().await;
    w.sandbox.shutdown().await;
}
