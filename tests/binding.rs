//! The `others` policy: what a host does with a configured channel that
//! another service of the same account already holds.

mod common;
use common::*;

fn woof(
    sandbox: &moobius_host::sandbox::Sandbox,
    ch: &str,
    email: &str,
    others: &str,
) -> ServiceDir {
    let script = std::fs::read_to_string(repo_root().join("scripts/service.rhai"))
        .unwrap()
        .replace("create_agent(\"Meow\"", "create_agent(\"Woof\"");
    let svc = ServiceDir::with_script(sandbox, &[ch], &script);
    svc.set_account(email);
    svc.set_service_key("others", others.into());
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_policy_ignore_include_unbind() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    c.create_user("alice");
    c.act("alice", &ch, "join").await.unwrap();
    let meow = ServiceDir::new(&sandbox, &[&ch]);
    let email = meow.email();
    let _a = meow.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Meow"]).await;

    // ignore: the second service leaves the channel to the first.
    let ignore = woof(&sandbox, &ch, &email, "ignore");
    let b = ignore.run_host();
    wait_for("the second host ignores the channel", || {
        let log = b.log();
        async move { log.contains("others = ignore").then_some(()) }
    })
    .await;
    let v = version(&c, "alice", &ch);
    assert!(c.act("alice", &ch, "refresh").await.unwrap());
    wait_for("alice's refresh is served", || async {
        (version(&c, "alice", &ch) > v).then_some(())
    })
    .await;
    assert_eq!(sees(&c, "alice", &ch), ["alice", "Meow"]);
    drop(b);

    // include: the third service takes the channel over.
    let include = woof(&sandbox, &ch, &email, "include");
    let _c = include.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Woof"]).await;

    // unbind: the fourth unbinds the holder and serves nothing.
    let unbind = woof(&sandbox, &ch, &email, "unbind");
    let d = unbind.run_host();
    wait_for("the fourth host unbinds the holder", || {
        let log = d.log();
        async move { log.contains("others = unbind").then_some(()) }
    })
    .await;
    assert!(
        !c.act("alice", &ch, "refresh").await.unwrap(),
        "no service is bound any more"
    );
    sandbox.shutdown().await;
}
