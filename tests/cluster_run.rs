//! A service served by several `moobius-host` processes through a real
//! Redis (docs/CLUSTER.md): every channel served whichever member owns it,
//! one gateway, and the loss of any member survived.

mod cluster_support;
mod common;
mod store_support;
use cluster_support::*;
use common::*;
use store_support::redis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_serve_every_channel_with_one_meow() {
    let Some(server) = redis() else { return };
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let mut channels = Vec::new();
    for i in 0..6 {
        let ch = c.create_channel(&format!("room-{i}"));
        channels.push(ch);
    }
    c.create_user("alice");
    c.create_user("bob");
    for ch in &channels {
        c.act("alice", ch, "join").await.unwrap();
    }
    let ids: Vec<&str> = channels.iter().map(String::as_str).collect();
    let svc = cluster_service(&sandbox, &ids, &tutorial(), 1_000).await;
    let members = vec![member(&svc, &server.url), member(&svc, &server.url)];
    gateway_index(&members, "").await;
    for ch in &channels {
        wait_sees(&c, "alice", ch, &["alice", "Meow"]).await;
        c.act("bob", ch, "join").await.unwrap();
    }
    for ch in &channels {
        wait_sees(&c, "alice", ch, &["alice", "Meow", "bob"]).await;
        wait_sees(&c, "bob", ch, &["bob", "Meow", "alice"]).await;
    }
    assert_eq!(
        agents_created(&c),
        Some(1),
        "one Meow for the whole cluster"
    );
    sandbox.shutdown().await;
}

/// SIGSTOP of the gateway past its lease: a standby takes over; on SIGCONT
/// the old gateway writes nothing (not even a heartbeat, due the moment it
/// wakes) and steps down. The sandbox counts every frame that arrives on a
/// service connection another one has replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_paused_past_its_lease_steps_down_without_writing() {
    let Some(server) = redis() else { return };
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    c.create_user("alice");
    let mut channels = Vec::new();
    for i in 0..10 {
        let ch = c.create_channel(&format!("room-{i}"));
        c.act("alice", &ch, "join").await.unwrap();
        channels.push(ch);
    }
    let ids: Vec<&str> = channels.iter().map(String::as_str).collect();
    let echo = "\nfn on_message_up(m) { send_message(\"echo \" + m.content.text, m.channel_id, m.sender, [m.sender]); }\n";
    let svc = cluster_service(&sandbox, &ids, &(tutorial() + echo), 1_000).await;
    // Heartbeats every 0.3 s: one is due as soon as the paused gateway wakes.
    svc.set_service_key("heartbeat_interval", 0.3.into());
    let members: Vec<HostProcess> = (0..3).map(|_| member(&svc, &server.url)).collect();
    let old = gateway_index(&members, "").await;
    all_ready(&members).await;
    for ch in &channels {
        wait_sees(&c, "alice", ch, &["alice", "Meow"]).await;
    }

    // A burst of messages, so that the gateway is paused with frames to
    // write: what it must not write when it wakes.
    for i in 0..300 {
        let fields = serde_json::json!({"text": format!("m{i}"), "recipients": ["alice"]});
        let ch = &channels[i % channels.len()];
        c.act_json("alice", ch, "message", fields.as_object().unwrap())
            .await
            .unwrap();
    }
    signal(&members[old], "STOP");
    let others: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    wait_for("a standby serves as the gateway", || {
        let found = others
            .iter()
            .any(|i| members[*i].log().contains("gateway: serving"));
        async move { found.then_some(()) }
    })
    .await;
    c.create_user("bob");
    c.act("bob", &channels[0], "join").await.unwrap();
    wait_sees(&c, "alice", &channels[0], &["alice", "Meow", "bob"]).await;

    signal(&members[old], "CONT");
    members[old]
        .wait_logged("the old gateway steps down", &["gateway: stepping down"])
        .await;
    members[old]
        .wait_logged("its connection is closed", &["platform connection closed"])
        .await;
    assert_eq!(
        c.stats().stale_service_frames,
        0,
        "the deposed gateway wrote to the platform:\n{}",
        members[old].log()
    );
    // The service goes on, with the old gateway as a member again.
    for ch in &channels[1..] {
        c.act("bob", ch, "join").await.unwrap();
        wait_sees(&c, "alice", ch, &["alice", "Meow", "bob"]).await;
    }
    sandbox.shutdown().await;
}
