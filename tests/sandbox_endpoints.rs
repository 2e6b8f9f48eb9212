//! Platform endpoints the host's full API relies on, driven with real
//! traffic: message history (newest last, `limit`), a channel a service
//! creates and binds itself, and the SDK's GET-with-body agent listing.

mod sandbox_support;

use sandbox_support::{keys, Served};
use serde_json::{json, Value};

#[tokio::test]
async fn history_holds_the_channels_messages_newest_last() {
    let s = Served::start().await;
    let alice = s.control.create_user("alice").user_id;
    s.control
        .act("alice", &s.channel_id, "join")
        .await
        .expect("join");
    let mut service = s.service_ws().await;
    let to_alice = s.group(&[&alice]).await;
    for text in ["one", "two"] {
        s.control
            .act_json(
                "alice",
                &s.channel_id,
                "message",
                &json!({"text": text})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .await
            .expect("message");
        service.next_event().await;
    }
    s.send_acked(
        &mut service,
        json!({"type": "message_down", "service_id": s.service_id, "body": {
            "subtype": "text", "channel_id": s.channel_id, "content": {"text": "three"},
            "recipients": to_alice, "timestamp": 1_721_880_000_000_i64, "context": {},
            "sender": alice}}),
    )
    .await;

    // As the SDK calls it: a GET with the query in the path and a JSON body.
    let served = &s;
    let history = |limit: &'static str| {
        let s = served;
        let path = format!(
            "/channel/history_message?channel_id={}&limit={limit}&before=null",
            s.channel_id
        );
        let body = json!({"limit": limit});
        async move { s.api.call("GET", &path, Some(&s.token), Some(body)).await }
    };
    let envelope = history("1024").await;
    assert_eq!(envelope["code"], 10000);
    let texts: Vec<Value> = envelope["data"]
        .as_array()
        .map(|m| m.iter().map(|m| m["content"]["text"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(texts, [json!("one"), json!("two"), json!("three")]);
    for message in envelope["data"].as_array().into_iter().flatten() {
        assert!(message["message_id"].is_string(), "{message}");
        assert_eq!(message["channel_id"], s.channel_id.as_str());
        assert_eq!(message["sender"], alice.as_str());
    }
    let last_two = history("2").await;
    assert_eq!(last_two["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(last_two["data"][1]["content"]["text"], "three");
    assert_eq!(history("0").await["data"], json!([]));
    s.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_service_creates_binds_and_lists_its_own_channel() {
    let s = Served::start().await;
    let created = s
        .api
        .ok(
            "POST",
            "/channel/create",
            &s.token,
            Some(
                json!({"channel_name": "Made", "context": {"channel_description": "by the host"}}),
            ),
        )
        .await;
    let made = created["channel_id"]
        .as_str()
        .expect("channel id")
        .to_string();
    let bound = s
        .api
        .call(
            "POST",
            "/service/bind",
            Some(&s.token),
            Some(json!({"channel_id": made, "service_id": s.service_id})),
        )
        .await;
    assert_eq!(bound["code"], 10000, "bind succeeds only on 10000");
    let listed = s.api.ok("GET", "/channel/list", &s.token, None).await;
    let mine = listed
        .as_array()
        .and_then(|l| l.iter().find(|c| c["channel_id"] == made.as_str()).cloned())
        .expect("the new channel is listed as an object");
    assert_eq!(mine["channel_name"], "Made");
    assert_eq!(mine["channel_description"], "by the host");
    let services = s.api.ok("GET", "/service/list", &s.token, None).await;
    assert_eq!(services[0]["channel_ids"], json!([s.channel_id, made]));
    let summary = s.control.channels();
    assert_eq!(
        summary[1].service_id.as_deref(),
        Some(s.service_id.as_str())
    );

    // The SDK's third /service/character/list attempt: a GET with a JSON body.
    let agent = s.agent("Meow").await;
    let listed = s
        .api
        .ok(
            "GET",
            "/service/character/list",
            &s.token,
            Some(json!({"service_id": s.service_id})),
        )
        .await;
    assert_eq!(listed[0]["character_id"], agent.as_str());
    assert_eq!(
        keys(&listed[0]["character_context"]),
        ["avatar", "description", "name"]
    );
    s.sandbox.shutdown().await;
}
