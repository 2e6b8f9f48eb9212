//! Agents: avatars from local files are uploaded once per content, URLs are
//! passed through, and `fetch_agents` / `fetch_character_profile` answer
//! from the platform.

mod common;
use common::*;

const SCRIPT: &str = r#"
fn before_channel_init() {
    this.a = create_agent("Ann", "resources/avatar.png");
    this.b = create_agent("Ben", "resources/../resources/avatar.png", "same picture");
    this.c = create_agent("Cat", "https://example.invalid/cat.png");
}
fn on_refresh(action) {
    let me = fetch_character_profile(action.sender);
    let agents = fetch_agents();
    send_characters([me] + agents, action.channel_id, action.sender);
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatars_upload_once_and_agents_are_listed() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    c.create_user("alice");
    let svc = ServiceDir::with_script(&sandbox, &[&ch], SCRIPT);
    let _host = svc.run_host();
    // Join once the service is up: the join's refresh triggers on_refresh.
    wait_for("the service binds the channel", || async {
        (c.stats()
            .requests
            .get("POST /service/bind")
            .copied()
            .unwrap_or(0)
            > 0)
        .then_some(())
    })
    .await;
    wait_for("alice's refresh is delivered", || async {
        c.act("alice", &ch, "refresh").await.unwrap().then_some(())
    })
    .await;
    c.act("alice", &ch, "join").await.unwrap();
    wait_sees(&c, "alice", &ch, &["alice", "Ann", "Ben", "Cat"]).await;

    let view = c.view("alice", &ch).unwrap();
    let avatar = |i: usize| view.characters[i].avatar.clone().unwrap_or_default();
    assert_eq!(
        avatar(1),
        avatar(2),
        "the same file content is uploaded once and reused"
    );
    assert_eq!(
        avatar(3),
        "https://example.invalid/cat.png",
        "a URL is passed through"
    );
    assert_eq!(c.stats().requests.get("GET /file/upload").copied(), Some(1));
    let served = reqwest::get(avatar(1))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let original = std::fs::read(repo_root().join("resources/avatar.png")).unwrap();
    assert_eq!(
        served.as_ref(),
        original.as_slice(),
        "the uploaded avatar is served back"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatar_paths_may_not_leave_the_service_directory() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    // A real file next to the service directory: reachable with `..`, refused.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("outside.png"), b"not yours").unwrap();
    let name = elsewhere
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let script = format!(
        "fn before_channel_init() {{ this.a = create_agent(\"Ann\", \"../{name}/outside.png\"); }}\n\
         fn on_refresh(action) {{ send_characters([action.sender], action.channel_id, action.sender); }}\n"
    );
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &script);
    let host = svc.run_host();
    wait_for("the error is logged", || {
        let log = host.log();
        async move { log.contains("before_channel_init").then_some(log) }
    })
    .await;
    let log = host.log();
    assert!(
        log.contains("scripts/service.rhai:1:") && log.contains("outside the service directory"),
        "{log}"
    );
    assert_eq!(c.stats().requests.get("GET /file/upload"), None);
    // The host keeps serving after the failed handler.
    wait_served(&c, &ch).await;
    c.create_user("bob");
    c.act("bob", &ch, "join").await.unwrap();
    wait_sees(&c, "bob", &ch, &["bob"]).await;
    sandbox.shutdown().await;
}

const KEEPER: &str = r#"
fn before_channel_init() { this.keeper = create_agent("Keeper", "resources/avatar.png", "DESCRIPTION"); }
fn on_refresh(action) { send_characters([this.keeper], action.channel_id, action.sender); }
"#;

/// The id alice sees for the service's one agent, once she sees it.
async fn keeper_id(c: &moobius_host::sandbox::SandboxControl, ch: &str) -> String {
    refresh_until(c, "alice", ch, &["Keeper"]).await;
    c.view("alice", ch).unwrap().characters[0]
        .character_id
        .clone()
}

fn requests(c: &moobius_host::sandbox::SandboxControl, what: &str) -> u64 {
    c.stats().requests.get(what).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_reuses_its_agent_and_updates_it_when_it_changed() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &KEEPER.replace("DESCRIPTION", "keeps"));
    let mut host = svc.run_host();
    let first = keeper_id(&c, &ch).await;
    host.kill();

    let mut host = svc.run_host();
    host.wait_logged("the agent is reused", &["agent reused"])
        .await;
    assert_eq!(keeper_id(&c, &ch).await, first, "the same agent");
    assert_eq!(agents_created(&c), Some(1), "no copy on restart");
    assert_eq!(
        requests(&c, "POST /service/character/update"),
        0,
        "unchanged"
    );
    host.kill();

    let script = svc.path().join("scripts/service.rhai");
    std::fs::write(&script, KEEPER.replace("DESCRIPTION", "keeps better")).unwrap();
    let mut host = svc.run_host();
    host.wait_logged("the agent is updated", &["agent reused and updated"])
        .await;
    assert_eq!(keeper_id(&c, &ch).await, first);
    assert_eq!(agents_created(&c), Some(1));
    assert_eq!(requests(&c, "POST /service/character/update"), 1);
    host.kill();

    let fresh = r#"
fn before_channel_init() { this.keeper = create_agent(#{name: "Keeper", fresh: true}); }
fn on_refresh(action) { send_characters([this.keeper], action.channel_id, action.sender); }
"#;
    std::fs::write(&script, fresh).unwrap();
    let _host = svc.run_host();
    wait_for("a fresh agent", || async {
        (agents_created(&c) == Some(2)).then_some(())
    })
    .await;
    // alice's view shows the previous host's Keeper until the new host
    // answers a refresh; a Keeper with the first id forever is the failure.
    wait_for("alice sees a Keeper that is not the first", || async {
        c.act("alice", &ch, "refresh").await.unwrap();
        let view = c.view("alice", &ch).ok()?;
        let keeper = view.characters.iter().find(|k| k.name == "Keeper")?;
        (keeper.character_id != first).then_some(())
    })
    .await;
    assert_eq!(sees(&c, "alice", &ch), ["Keeper"]);
    sandbox.shutdown().await;
}
