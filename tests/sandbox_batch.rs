//! `POST /sandbox/act` with a batch: every action performed in order, one
//! answer for all.

mod common;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_actions_runs_in_order_with_one_answer() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    for n in ["alice", "bob", "carol"] {
        c.create_user(n);
    }
    let actions: Vec<_> = ["carol", "alice", "bob"]
        .iter()
        .map(|u| json!({"user": u, "channel_id": ch, "action": "join"}))
        .chain([json!({"user": "alice", "channel_id": ch, "action": "leave"})])
        .collect();
    let answer = json_answer(
        reqwest::Client::new()
            .post(format!("{}sandbox/act", sandbox.http_url()))
            .json(&json!({"actions": actions})),
    )
    .await;
    assert_eq!(
        answer,
        json!({"delivered": [false, false, false, false]}),
        "no service is connected"
    );
    assert_eq!(member_names(&c, &ch), ["carol", "bob"]);
    let bad = reqwest::Client::new()
        .post(format!("{}sandbox/act", sandbox.http_url()))
        .json(&json!({"actions": [{"user": "nobody", "channel_id": ch, "action": "join"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
    sandbox.shutdown().await;
}
