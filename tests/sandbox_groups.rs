//! The sandbox's group store is bounded, over its real HTTP API: one id per
//! distinct list, and past its bounds the least recently used groups are
//! forgotten (a long-lived sandbox, like the benchmark's, must not keep
//! every list a service ever sent).

mod sandbox_support;

use moobius_host::sandbox::{GroupBounds, Sandbox, SandboxOptions};
use sandbox_support::{start, Api};
use serde_json::{json, Value};

async fn create(api: &Api, token: &str, ids: &[String]) -> String {
    api.ok(
        "POST",
        "/service/group/create",
        token,
        Some(json!({"group_id": "", "characters": ids})),
    )
    .await
    .as_str()
    .expect("data is the group id")
    .to_string()
}

/// The `/user/group` envelope for a group id (a lookup, which is a use).
async fn look_up(api: &Api, token: &str, group: &str) -> Value {
    api.call(
        "GET",
        &format!("/user/group?group_id={group}&channel_id=c&user_id=u"),
        Some(token),
        None,
    )
    .await
}

async fn stats(api: &Api) -> Value {
    api.client
        .get(format!("{}sandbox/stats", api.base))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

fn list(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

#[tokio::test]
async fn the_same_list_keeps_one_group() {
    let sandbox = start().await;
    let api = Api::new(&sandbox.http_url());
    let token = api.sign_in("svc@example.com", "pw").await;
    let ids = list("m", 20);
    let first = create(&api, &token, &ids).await;
    for _ in 0..50 {
        assert_eq!(create(&api, &token, &ids).await, first);
    }
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_ne!(
        create(&api, &token, &reversed).await,
        first,
        "order matters"
    );
    let s = stats(&api).await;
    assert_eq!(s["groups_created"], 52, "every creation asked for counts");
    assert_eq!(s["groups_held"], 2);
    assert_eq!(s["group_ids_held"], 40);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn groups_past_the_bound_are_forgotten_least_recent_first() {
    let sandbox = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        groups: GroupBounds {
            max_groups: 1_000,
            max_ids: 40,
        },
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let api = Api::new(&sandbox.http_url());
    let token = api.sign_in("svc@example.com", "pw").await;
    let kept = create(&api, &token, &list("kept", 4)).await;
    let forgotten = create(&api, &token, &list("forgotten", 4)).await;
    for k in 0..30 {
        create(&api, &token, &list(&format!("l{k}"), 4)).await;
        // Used all along: stays.
        assert_eq!(look_up(&api, &token, &kept).await["code"], 10000);
        let held = stats(&api).await["group_ids_held"].as_u64();
        assert!(held.is_some_and(|n| n <= 40), "{held:?} ids held");
    }
    let gone = look_up(&api, &token, &forgotten).await;
    assert_eq!(gone["code"], 40004, "the least recently used went: {gone}");
    let s = stats(&api).await;
    assert_eq!(
        (s["groups_held"].clone(), s["group_ids_held"].clone()),
        (json!(10), json!(40))
    );
    sandbox.shutdown().await;
}
