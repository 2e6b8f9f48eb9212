//! Views as the control API reports them (messages with sender names, a
//! member's own sent messages, channel info, latest content lists), the
//! channel list, and the downward path at
//! scale: one 1,000-member `message_down` travelling as one small frame.

mod sandbox_support;

use sandbox_support::{keys, Served, Ws};
use serde_json::{json, Value};

#[tokio::test]
async fn views_carry_sender_names_channel_info_and_latest_lists() {
    let s = Served::start().await;
    let alice = s.control.create_user("alice").user_id;
    let bob = s.control.create_user("bob").user_id;
    s.control
        .act("alice", &s.channel_id, "join")
        .await
        .expect("join");
    let meow = s.agent("Meow").await;
    let mut service = s.service_ws().await;
    let to_alice = s.group(&[&alice]).await;

    // Messages from an agent, a user and an unknown id, oldest first.
    for (sender, text) in [
        (meow.as_str(), "one"),
        (bob.as_str(), "two"),
        ("ghost", "three"),
    ] {
        s.send_acked(
            &mut service,
            json!({"type": "message_down", "service_id": s.service_id, "body": {
                "subtype": "text", "channel_id": s.channel_id, "content": {"text": text},
                "recipients": to_alice, "timestamp": 1_721_880_000_000_i64, "context": {},
                "sender": sender}}),
        )
        .await;
    }
    for (subtype, content) in [
        (
            "buttons",
            json!([{"button_id": "a", "button_text": "A", "dialog": null}]),
        ),
        (
            "buttons",
            json!([{"button_id": "b", "button_text": "B", "dialog": null}]),
        ),
        ("canvas", json!([{"text": "c", "path": null}])),
        (
            "menu",
            json!([{"menu_item_id": "m", "menu_item_text": "M", "message_subtypes": ["text"], "dialog": null}]),
        ),
        (
            "style",
            json!([{"widget": "canvas", "display": "visible", "expand": true, "button_id": null, "text": null}]),
        ),
    ] {
        s.send_acked(
            &mut service,
            json!({"type": "update", "service_id": s.service_id, "body": {
                "subtype": subtype, "channel_id": s.channel_id, "recipients": to_alice,
                "content": content, "group_id": "temp", "context": {}}}),
        )
        .await;
    }
    let (status, view) = s
        .control_call(
            reqwest::Method::GET,
            &format!("view?user=alice&channel_id={}", s.channel_id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&view),
        [
            "buttons",
            "canvas",
            "channel_info",
            "characters",
            "menu",
            "messages",
            "sent",
            "style",
            "version"
        ]
    );
    assert_eq!(view["version"], 8);
    let messages = view["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 3);
    for message in &messages {
        assert_eq!(
            keys(message),
            [
                "content",
                "message_id",
                "sender",
                "sender_name",
                "seq",
                "subtype"
            ]
        );
        assert!(message["message_id"].is_string());
    }
    let summary: Vec<(Value, Value, Value)> = messages
        .iter()
        .map(|m| {
            (
                m["content"]["text"].clone(),
                m["sender"].clone(),
                m["sender_name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("one"), json!(meow), json!("Meow")),
            (json!("two"), json!(bob), json!("bob")),
            (json!("three"), json!("ghost"), json!("")),
        ]
    );
    assert_eq!(
        view["buttons"],
        json!([{"button_id": "b", "button_text": "B", "dialog": null}])
    );
    assert_eq!(view["canvas"], json!([{"text": "c", "path": null}]));
    assert_eq!(view["menu"][0]["menu_item_id"], "m");
    assert_eq!(view["style"][0]["widget"], "canvas");
    assert_eq!(
        view["channel_info"],
        json!({"channel_id": s.channel_id, "channel_name": "lobby", "channel_description": "", "channel_type": "ccs"})
    );

    // Renaming the agent: later views show the new name.
    s.api
        .ok(
            "POST",
            "/service/character/update",
            &s.token,
            Some(json!({
            "service_id": s.service_id, "character_id": meow,
            "context": {"name": "Purr", "avatar": null, "description": "renamed"}})),
        )
        .await;
    let view = s.control.view("alice", &s.channel_id).expect("view");
    assert_eq!(view.messages[0].sender_name, "Purr");

    // channel_info: top-level subtype and channel id, whole channel, no recipients.
    s.send_acked(
        &mut service,
        json!({"type": "update", "subtype": "channel_info", "channel_id": s.channel_id,
               "service_id": s.service_id, "body": {
                "channel_id": s.channel_id, "channel_name": "Salon", "channel_description": "chat",
                "channel_type": "dcs", "context": {"channel_description": "chat", "channel_type": "dcs"}}}),
    )
    .await;
    let view = s.control.view("alice", &s.channel_id).expect("view");
    assert_eq!(view.version, 9);
    let salon = json!({"channel_id": s.channel_id, "channel_name": "Salon", "channel_description": "chat", "channel_type": "dcs"});
    assert_eq!(
        serde_json::to_value(&view.channel_info).expect("json"),
        salon
    );
    let listed = s.api.ok("GET", "/channel/popular", &s.token, None).await;
    assert_eq!(listed[0]["channel_name"], "Salon");
    assert_eq!(listed[0]["channel_type"], "dcs");

    // A later rename through the API: alice keeps what she last received,
    // bob (who received no channel_info) sees the channel as it is now.
    let owner = s.api.sign_in("service@example.com", "pw").await;
    s.api
        .ok("POST", "/channel/update", &owner, Some(json!({
            "channel_id": s.channel_id, "channel_name": "Hall", "context": {"channel_description": "big"}})))
        .await;
    let alice_info = s
        .control
        .view("alice", &s.channel_id)
        .expect("view")
        .channel_info;
    assert_eq!(alice_info.channel_name, "Salon");
    let bob_info = s
        .control
        .view("bob", &s.channel_id)
        .expect("view")
        .channel_info;
    assert_eq!(
        (
            bob_info.channel_name.as_str(),
            bob_info.channel_description.as_str()
        ),
        ("Hall", "big")
    );
    s.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_members_own_messages_are_in_their_view_in_order_without_a_new_version() {
    let s = Served::start().await;
    let alice = s.control.create_user("alice").user_id;
    let bob = s.control.create_user("bob").user_id;
    for name in ["alice", "bob"] {
        s.control
            .act(name, &s.channel_id, "join")
            .await
            .expect("join");
    }
    let mut service = s.service_ws().await;
    let before = s
        .control
        .view("alice", &s.channel_id)
        .expect("view")
        .version;

    // alice writes to bob through the control API, as the dev page does.
    let (status, _) = s
        .control_call(
            reqwest::Method::POST,
            "act",
            Some(
                json!({"user": "alice", "channel_id": s.channel_id, "action": "message",
                        "text": "hi bob", "recipients": ["bob"]}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let up = service.next_event().await;
    assert_eq!(up["type"], "message_up");
    // Then the service answers her: the answer comes after her message.
    let to_alice = s.group(&[&alice]).await;
    s.send_acked(
        &mut service,
        json!({"type": "message_down", "service_id": s.service_id, "body": {
            "subtype": "text", "channel_id": s.channel_id, "content": {"text": "hi alice"},
            "recipients": to_alice, "timestamp": 1_721_880_000_000_i64, "context": {},
            "sender": bob}}),
    )
    .await;

    let (_, view) = s
        .control_call(
            reqwest::Method::GET,
            &format!("view?user=alice&channel_id={}", s.channel_id),
            None,
        )
        .await;
    assert_eq!(
        view["sent"],
        json!([{"message_id": up["body"]["message_id"], "subtype": "text",
                "content": {"text": "hi bob"},
                "recipients": [{"character_id": bob, "name": "bob"}], "seq": 0}])
    );
    assert_eq!(view["messages"][0]["content"]["text"], "hi alice");
    assert_eq!(view["messages"][0]["seq"], 1);
    assert_eq!(
        view["version"],
        before + 1,
        "sending is not a downward event"
    );
    let bob_view = s.control.view("bob", &s.channel_id).expect("view");
    assert!(bob_view.sent.is_empty(), "only the sender's view keeps it");
    s.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_thousand_members_get_one_message_each_from_one_small_frame() {
    const MEMBERS: usize = 1000;
    let s = Served::start().await;
    let mut ids = Vec::with_capacity(MEMBERS);
    for i in 0..MEMBERS {
        let name = format!("user{i:04}");
        ids.push(s.control.create_user(&name).user_id);
        s.control
            .act(&name, &s.channel_id, "join")
            .await
            .expect("join");
    }
    let outsider = s.control.create_user("outsider");
    // The first member also has a real client connected.
    let first = s.control.create_user("user0000");
    let token = s.api.sign_in(&first.email, &first.password).await;
    let mut client = Ws::connect(&s.sandbox.ws_url()).await;
    client
        .send(json!({"type": "user_login", "request_id": "ul", "access_token": token}))
        .await;
    client.ack_of("ul").await;

    let mut service = s.service_ws().await;
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let everyone = s.group(&id_refs).await;
    let agent = s.agent("Town crier").await;
    s.send_acked(
        &mut service,
        json!({"type": "message_down", "service_id": s.service_id, "body": {
            "subtype": "text", "channel_id": s.channel_id, "content": {"text": "hear ye"},
            "recipients": everyone, "timestamp": 1_721_880_000_000_i64, "context": {},
            "sender": agent}}),
    )
    .await;
    // A marker to the first member only: anything duplicated would come before it.
    let first_only = s.group(&[&ids[0]]).await;
    s.send_acked(
        &mut service,
        json!({"type": "update", "service_id": s.service_id, "body": {
            "subtype": "canvas", "channel_id": s.channel_id, "recipients": first_only,
            "content": [{"text": "marker", "path": null}], "group_id": "temp", "context": {}}}),
    )
    .await;

    let mut message_ids = std::collections::HashSet::new();
    for id in &ids {
        let view = s.control.view(id, &s.channel_id).expect("view");
        assert_eq!(view.messages.len(), 1, "member {id}");
        assert_eq!(view.messages[0].sender_name, "Town crier");
        message_ids.insert(view.messages[0].message_id.clone());
    }
    assert_eq!(message_ids.len(), 1, "one message, one id");
    assert!(s
        .control
        .view(&outsider.user_id, &s.channel_id)
        .expect("view")
        .messages
        .is_empty());

    let down = client.next_event().await;
    assert_eq!(down["type"], "message_down");
    assert_eq!(down["body"]["content"], json!({"text": "hear ye"}));
    assert_eq!(down["body"]["sender"], agent.as_str());
    assert!(down["body"].get("recipients").is_none());
    let marker = client.next_event().await;
    assert_eq!(
        marker["body"]["subtype"], "canvas",
        "no duplicate message: {marker}"
    );

    let stats = s.control.stats();
    let frames = stats
        .frames
        .get("message_down")
        .copied()
        .unwrap_or_default();
    assert_eq!(frames.count, 1);
    assert!(frames.max_bytes < 1024, "{frames:?}");
    let (_, over_http) = s.control_call(reqwest::Method::GET, "stats", None).await;
    assert_eq!(over_http["frames"]["message_down"]["count"], 1);
    assert_eq!(over_http["frames"]["update"]["count"], 1);
    assert!(over_http["frames"]["service_login"]["count"].is_u64());
    s.sandbox.shutdown().await;
}

#[tokio::test]
async fn channel_list_reports_members_and_service_connection() {
    let s = Served::start().await;
    let quiet = s.control.create_channel("quiet");
    s.control.create_user("alice");
    s.control
        .act("alice", &s.channel_id, "join")
        .await
        .expect("join");
    let expected = |connected: bool| {
        json!([
            {"channel_id": s.channel_id, "channel_name": "lobby", "members": 1,
             "service_id": s.service_id, "service_connected": connected},
            {"channel_id": quiet, "channel_name": "quiet", "members": 0,
             "service_id": null, "service_connected": false},
        ])
    };
    let (status, listed) = s.control_call(reqwest::Method::GET, "channels", None).await;
    assert_eq!((status, listed), (200, expected(false)));
    let service = s.service_ws().await;
    let (_, listed) = s.control_call(reqwest::Method::GET, "channels", None).await;
    assert_eq!(listed, expected(true));
    assert_eq!(s.control.channels()[0].members, 1);
    drop(service);
    s.sandbox.shutdown().await;
}
