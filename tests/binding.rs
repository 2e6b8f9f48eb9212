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
    let script = tutorial().replace("create_agent(\"Meow\"", "create_agent(\"Woof\"");
    let svc = ServiceDir::with_script(sandbox, &[ch], &script);
    svc.set_account(email);
    svc.set_service_key("others", others.into());
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_policy_ignore_include_unbind() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let meow = ServiceDir::new(&sandbox, &[&ch]);
    let email = meow.email();
    let _a = meow.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Meow"]).await;

    // ignore: the second service leaves the channel to the first.
    let ignore = woof(&sandbox, &ch, &email, "ignore");
    let b = ignore.run_host();
    b.wait_logged("the second host ignores the channel", &["others = ignore"])
        .await;
    assert!(refresh_answered(&c, "alice", &ch, "alice's refresh is served").await);
    assert_eq!(sees(&c, "alice", &ch), ["alice", "Meow"]);
    drop(b);

    // include: the third service takes the channel over.
    let include = woof(&sandbox, &ch, &email, "include");
    let _c = include.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Woof"]).await;

    // unbind: the fourth unbinds the holder and serves nothing.
    let unbind = woof(&sandbox, &ch, &email, "unbind");
    let d = unbind.run_host();
    d.wait_logged("the fourth host unbinds the holder", &["others = unbind"])
        .await;
    assert!(
        !c.act("alice", &ch, "refresh").await.unwrap(),
        "no service is bound any more"
    );
    sandbox.shutdown().await;
}
