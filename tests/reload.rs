//! Hot reload against the real sandbox: edit, save, and the running host
//! behaves the new way, with `this` kept; broken saves change nothing; every
//! way editors save gives exactly one reload; events under reload are each
//! handled once, by one version.

mod common;
use common::user::*;
use common::*;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const SELF_FIRST: &str = "let payload = this.members[channel_id].view_for(member_id, [this.meow]);";
const SELF_LAST: &str =
    "let payload = this.members[channel_id].view_for(member_id, [this.meow]).to_array(); let me = payload.shift(); payload.push(me);";

fn reloads(host: &HostProcess) -> usize {
    host.log().matches(" reloaded ").count()
}

async fn wait_reloads(host: &HostProcess, n: usize) {
    wait_for(&format!("{n} reloads"), || {
        let count = reloads(host);
        async move { (count >= n).then_some(()) }
    })
    .await;
}

/// A lobby with alice, bob and carol, served by `script`: the channel, the
/// service and its host, once alice sees everyone.
async fn three_members(
    sandbox: &moobius_host::sandbox::Sandbox,
    script: &str,
) -> (String, ServiceDir, HostProcess) {
    let (ch, svc, host) = lobby_with_host(sandbox, &["alice", "bob", "carol"], |ch| {
        ServiceDir::with_script(sandbox, &[ch], script)
    })
    .await;
    let everyone = ["alice", "Meow", "bob", "carol"];
    wait_sees(&sandbox.control(), "alice", &ch, &everyone).await;
    (ch, svc, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_keeps_state_and_agents() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, svc, host) = three_members(&sandbox, &tutorial()).await;
    let script = svc.path().join("scripts/service.rhai");
    std::fs::write(&script, tutorial().replace(SELF_FIRST, SELF_LAST)).unwrap();
    // The new order needs this.meow and this.members from before the reload.
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "carol", "alice"]).await;
    assert_eq!(reloads(&host), 1);
    assert_eq!(agents_created(&c), Some(1), "no second Meow");
    assert!(
        host.log().contains("changed=[\"scripts/service.rhai\"]"),
        "{}",
        host.log()
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_save_keeps_old_version_until_fixed() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, svc, host) = three_members(&sandbox, &tutorial()).await;
    let script = svc.path().join("scripts/service.rhai");
    let broken = tutorial().replace(SELF_FIRST, "let payload = [member_id] +;");
    std::fs::write(&script, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("[member_id] +;"))
        .unwrap()
        + 1;
    let expected = format!("scripts/service.rhai:{line}:");
    wait_for("the reload error is logged", || {
        let log = host.log();
        let e = expected.clone();
        async move { (log.contains("reload failed") && log.contains(&e)).then_some(()) }
    })
    .await;
    refresh_answered(&c, "alice", &ch, "the old version serves the refresh").await;
    assert_eq!(sees(&c, "alice", &ch), ["alice", "Meow", "bob", "carol"]);
    assert_eq!(reloads(&host), 0);

    std::fs::write(&script, tutorial().replace(SELF_FIRST, SELF_LAST)).unwrap();
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "carol", "alice"]).await;
    assert_eq!(reloads(&host), 1);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_only_an_import_reloads() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let main = tutorial()
        .replace("fn before_channel_init", "import \"order\" as order;\n\nfn before_channel_init")
        .replace(SELF_FIRST, "let payload = order::arrange(member_id, this.members[channel_id].view_for(member_id, [this.meow]).to_array().extract(1));");
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &main);
    let module = svc.path().join("scripts/order.rhai");
    std::fs::write(&module, "fn arrange(me, others) { [me] + others }\n").unwrap();
    let host = svc.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    std::fs::write(&module, "fn arrange(me, others) { others + [me] }\n").unwrap();
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "alice"]).await;
    assert_eq!(reloads(&host), 1);
    sandbox.shutdown().await;
}

/// One way of writing a file, as some editor does it.
type Save = fn(&Path, &str);

fn save_in_place(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.set_len(text.len() as u64).unwrap();
}

fn save_truncate_pause_write(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.flush().unwrap();
    // An editor (or a slow disk) pausing between the two: part of the scenario.
    std::thread::sleep(Duration::from_millis(300));
    f.write_all(text.as_bytes()).unwrap();
}

fn save_temp_rename(path: &Path, text: &str) {
    let tmp = path.with_file_name(".service.rhai.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_editor_style_gives_exactly_one_reload() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, svc, host) = three_members(&sandbox, &tutorial()).await;
    let script = svc.path().join("scripts/service.rhai");
    let last = tutorial().replace(SELF_FIRST, SELF_LAST);
    let first = tutorial();
    let styles: [(&str, Save); 4] = [
        ("in place", save_in_place),
        ("truncate, pause, write", save_truncate_pause_write),
        ("temp + rename", save_temp_rename),
        ("in place again", save_in_place),
    ];
    for (i, &(style, save)) in styles.iter().enumerate() {
        let (text, expected): (&str, &[&str]) = if i % 2 == 0 {
            (&last, &["Meow", "bob", "carol", "alice"])
        } else {
            (&first, &["alice", "Meow", "bob", "carol"])
        };
        let p = script.clone();
        let t = text.to_string();
        tokio::task::spawn_blocking(move || save(&p, &t))
            .await
            .unwrap();
        refresh_until(&c, "alice", &ch, expected).await;
        // Bursts are handled in order: when this save's code runs, the
        // previous save cannot still cause a reload.
        assert_eq!(
            reloads(&host),
            i + 1,
            "{style}: exactly one reload per save\n{}",
            host.log()
        );
    }
    assert!(
        !host.log().contains("reload failed"),
        "the partial content never ran or failed: {}",
        host.log()
    );
    sandbox.shutdown().await;
}

const ORDER_A: &str = "fn first() { this.x }\nfn second() { this.y }\n";
const ORDER_B: &str = "fn first() { this.y }\nfn second() { this.x }\n";

fn xy_script(order: &str, n: usize) -> String {
    format!(
        "// save {n}\nfn before_channel_init() {{ this.x = create_agent(\"X\"); this.y = create_agent(\"Y\"); }}\n\
         fn on_refresh(action) {{ send_characters([action.sender, this.first(), this.second()], action.channel_id, action.sender); }}\n{order}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_under_twenty_reloads_are_each_handled_once_by_one_version() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    let (mut ws, token) = user_socket(&sandbox, "alice").await;
    let alice = c.create_user("alice").user_id;
    c.act("alice", &ch, "join").await.unwrap();
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &xy_script(ORDER_A, 0));
    let host = svc.run_host();
    // Alice's client reads all along (a platform drops a client that does not).
    let (updates_tx, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        loop {
            let f = next_frame(&mut ws, is_characters_update).await;
            if updates_tx.send(f).is_err() {
                return;
            }
        }
    });
    wait_for("the service serves alice", || async {
        c.act("alice", &ch, "refresh").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        (version(&c, "alice", &ch) > 0).then_some(())
    })
    .await;
    // From here on, count: every refresh sent must give exactly one update.
    let base = version(&c, "alice", &ch);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let driver = {
        let (c, ch, stop) = (c.clone(), ch.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // At most 64 refreshes unanswered: the driver keeps the host
                // busy without outrunning it on a loaded machine (a backlog
                // would only delay the reloads, which queue behind events).
                if sent >= version(&c, "alice", &ch).saturating_sub(base) + 64 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                assert!(c.act("alice", &ch, "refresh").await.unwrap());
                sent += 1;
                if sent % 8 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            sent
        })
    };
    let script = svc.path().join("scripts/service.rhai");
    for n in 1..=20 {
        let order = if n % 2 == 1 { ORDER_B } else { ORDER_A };
        std::fs::write(&script, xy_script(order, n)).unwrap();
        wait_reloads(&host, n).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = driver.await.unwrap();
    assert!(
        sent >= 20,
        "refreshes kept flowing during the reloads ({sent})"
    );
    wait_for("every refresh is answered", || async {
        (version(&c, "alice", &ch) >= base + sent).then_some(())
    })
    .await;
    // One more refresh as a barrier: nothing beyond one update per refresh.
    refresh_answered(&c, "alice", &ch, "the barrier refresh is answered").await;
    assert_eq!(
        version(&c, "alice", &ch),
        base + sent + 1,
        "each event handled exactly once"
    );

    // Every update alice received came from one whole version: [alice, X, Y] or [alice, Y, X].
    let mut lists = std::collections::HashMap::new();
    let mut frames = 0;
    while frames < base + sent + 1 {
        let f = tokio::time::timeout(Duration::from_secs(20), updates.recv())
            .await
            .expect("an update within the deadline")
            .expect("alice's client is still reading");
        frames += 1;
        let group = f["body"]["content"]["characters"]
            .as_str()
            .unwrap()
            .to_string();
        if !lists.contains_key(&group) {
            let ids = expand(&sandbox, &token, &group, &ch, &alice).await;
            lists.insert(group.clone(), ids);
        }
        let ids = &lists[&group];
        assert!(
            ids.len() == 3 && ids[0] == alice && ids[1] != ids[2],
            "a half-swapped handler sent {ids:?}"
        );
    }
    assert!(
        lists.len() <= 3,
        "only the two orders (and alice alone at most once) appear: {lists:?}"
    );
    reader.abort();
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_come_and_go_and_on_reload_sees_this() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("lobby");
    c.create_user("alice");
    c.create_user("bob");
    let v1 = r#"
fn before_channel_init() { this.meow = create_agent("Meow"); }
fn on_refresh(action) {
    this.ch = action.channel_id;
    this.alice = action.sender;
    send_characters([action.sender], action.channel_id, action.sender);
}
"#;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], v1);
    let host = svc.run_host();
    wait_served(&c, &ch).await;
    c.act("alice", &ch, "join").await.unwrap();
    wait_sees(&c, "alice", &ch, &["alice"]).await;

    // v2: on_refresh is gone, on_join is new, on_reload uses what v1 stored.
    let v2 = r#"
fn before_channel_init() { this.meow = create_agent("Meow"); }
fn on_join(action) { send_characters([action.sender, this.meow], action.channel_id, action.sender); }
fn on_reload() { send_characters([this.meow], this.ch, this.alice); }
"#;
    std::fs::write(svc.path().join("scripts/service.rhai"), v2).unwrap();
    wait_sees(&c, "alice", &ch, &["Meow"]).await;
    assert_eq!(reloads(&host), 1);
    let alice_version = version(&c, "alice", &ch);
    c.act("alice", &ch, "refresh").await.unwrap();
    // bob's join is handled after alice's refresh: a barrier for it.
    c.act("bob", &ch, "join").await.unwrap();
    wait_sees(&c, "bob", &ch, &["bob", "Meow"]).await;
    assert_eq!(
        version(&c, "alice", &ch),
        alice_version,
        "the removed on_refresh no longer runs"
    );
    assert_eq!(agents_created(&c), Some(1));
    sandbox.shutdown().await;
}
