//! Group ids on the wire: the host converts each distinct list once, and
//! users receive updates without `recipients`, with a character group the
//! platform resolves for them. Checked with a real user WebSocket client.

mod common;
use common::user::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_become_cached_groups_and_users_get_no_recipients() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    let (mut alice_ws, alice_token) = user_socket(&sandbox, "alice").await;
    let (mut bob_ws, _) = user_socket(&sandbox, "bob").await;
    let alice = c.create_user("alice").user_id;
    let bob = c.create_user("bob").user_id;
    c.act("alice", &ch, "join").await.unwrap();
    c.act("bob", &ch, "join").await.unwrap();

    let svc = ServiceDir::new(&sandbox, &[&ch]);
    let _host = svc.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    wait_sees(&c, "bob", &ch, &["bob", "Meow", "alice"]).await;
    let first = next_frame(&mut alice_ws, is_characters_update).await;
    let body = first["body"].as_object().unwrap();
    assert!(
        !body.contains_key("recipients"),
        "users never see recipients: {first}"
    );
    let alice_group = body["content"]["characters"].as_str().unwrap().to_string();
    let listed = expand(&sandbox, &alice_token, &alice_group, &ch, &alice).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(
        (listed[0].as_str(), listed[2].as_str()),
        (alice.as_str(), bob.as_str())
    );

    let bob_frame = next_frame(&mut bob_ws, is_characters_update).await;
    let bob_group = bob_frame["body"]["content"]["characters"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        alice_group, bob_group,
        "different lists get different groups"
    );

    // The same view again: no new group, the same group id on the wire.
    let created = c.stats().groups_created;
    refresh_answered(&c, "alice", &ch, "alice's view is re-sent").await;
    let again = next_frame(&mut alice_ws, is_characters_update).await;
    assert_eq!(again["body"]["content"]["characters"], alice_group.as_str());
    assert_eq!(
        c.stats().groups_created,
        created,
        "a list seen before is a cache hit"
    );
    sandbox.shutdown().await;
}
