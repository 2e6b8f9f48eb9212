//! A service served by several `moobius-host` processes through a real
//! Redis (docs/CLUSTER.md): every channel served whichever node owns it,
//! one gateway, and the loss of any node survived.

mod cluster_support;
mod common;
mod store_support;
use cluster_support::*;
use common::*;
use store_support::{config_set, own_redis, redis};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serve_every_channel_with_one_meow() {
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
    let nodes = vec![
        node_with(&svc, &server.url, &["--admin", "127.0.0.1:0"]),
        node(&svc, &server.url),
    ];
    gateway_index(&nodes, "").await;
    all_ready(&nodes).await;
    // Takeovers are one INFO line per round, not one per partition.
    for m in &nodes {
        let log = m.log();
        let info = |what: &str| {
            log.lines()
                .filter(|l| l.contains(" INFO ") && l.contains(what))
                .count()
        };
        assert_eq!(info("took a partition over"), 0, "{log}");
        assert!(info("took partitions over") >= 1, "{log}");
    }
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
    status_shows_the_cluster(&svc, &server.url).await;
    admin_shows_the_node(&svc).await;
    sandbox.shutdown().await;
}

/// `cluster status`: both nodes, one gateway, every partition owned.
async fn status_shows_the_cluster(svc: &ServiceDir, url: &str) {
    let report = wait_for("every partition owned", || {
        let out = cluster_status(svc, url, true);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let owned = report["partitions"]
            .as_array()
            .is_some_and(|ps| ps.len() == 16 && ps.iter().all(|p| p["owner"].is_object()));
        async move { (out.status.success() && owned).then_some(report) }
    })
    .await;
    assert_eq!(
        report["nodes"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert!(report["gateway"]["token"].as_u64().is_some(), "{report}");
    let text = cluster_status(svc, url, false);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("nodes: 2 live"), "{text}");
    assert!(
        text.contains("gateway: vm") || text.contains("gateway: "),
        "{text}"
    );
    assert!(!text.contains("gateway: none"), "{text}");
}

/// The admin endpoint of a node: its part in the cluster in `/status`,
/// ready, and the cluster's metrics.
async fn admin_shows_the_node(svc: &ServiceDir) {
    let read = |f: &str| std::fs::read_to_string(svc.path().join(f)).unwrap_or_default();
    let (url, token) = (read("data/admin.url"), read("data/admin.token"));
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{}{path}", url.trim()))
            .bearer_auth(token.trim())
            .send()
    };
    let status: serde_json::Value = get("/status").await.unwrap().json().await.unwrap();
    let cluster = &status["cluster"];
    assert!(
        cluster["node"].as_str().is_some_and(|n| !n.is_empty()),
        "{status}"
    );
    assert_eq!(
        cluster["nodes"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );
    assert!(cluster["gateway_holder"].is_string(), "{status}");
    assert_eq!(status["ready"], true, "{status}");
    assert_eq!(get("/readyz").await.unwrap().status().as_u16(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for family in [
        "moobius_cluster_gateway",
        "moobius_cluster_partitions_owned",
    ] {
        assert!(metrics.contains(family), "{family} in:\n{metrics}");
    }
}

/// What a cluster cannot run with is refused at start, in one line naming
/// the key, before anything reaches Redis or the platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_refuses_embedded_stores_and_a_missing_service_id() {
    let sandbox = start_sandbox().await;
    let svc = ServiceDir::new(&sandbox, &["unused"]);
    let unreachable = "redis://127.0.0.1:1/";
    let mut host = node(&svc, unreachable);
    assert_eq!(host.exited().await.code(), Some(2));
    assert!(
        host.log()
            .contains("service_config.service_id: a cluster needs the service id"),
        "{}",
        host.log()
    );

    svc.set_service_key("service_id", "svc-1".into());
    svc.set_config_key(
        "db_config",
        serde_json::json!([{"name": "state", "implementation": "embedded"}]),
    );
    let mut host = node(&svc, unreachable);
    assert_eq!(host.exited().await.code(), Some(2));
    let log = host.log();
    assert!(
        log.contains("db_config.state: an embedded store cannot serve a cluster"),
        "{log}"
    );
    assert!(log.contains("\"implementation\": \"redis\""), "{log}");
    sandbox.shutdown().await;
}

/// A Redis that cannot be reached is an outage, the operator's (exit
/// status 1), in one line naming the Redis without its password; a
/// password the Redis refuses is the config's to fix (exit status 2,
/// naming the key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_an_outage_and_a_wrong_password_a_config_error() {
    let sandbox = start_sandbox().await;
    let svc = ServiceDir::new(&sandbox, &["unused"]);
    svc.set_service_key("service_id", "svc-1".into());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut host = node(&svc, &format!("redis://user:hunter2@127.0.0.1:{closed}/"));
    assert_eq!(host.exited().await.code(), Some(1), "{}", host.log());
    let log = host.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {log}");
    assert!(
        errors[0].contains(&format!("Redis at redis://127.0.0.1:{closed}/")),
        "{log}"
    );
    assert!(
        !log.contains("cluster.redis_url"),
        "not a config error: {log}"
    );
    assert!(!log.contains("hunter2"), "no password in errors: {log}");

    let Some(server) = own_redis(&["--requirepass", "right"]) else {
        return;
    };
    let wrong = server.url.replace("redis://", "redis://:hunter2@");
    let mut host = node(&svc, &wrong);
    assert_eq!(host.exited().await.code(), Some(2), "{}", host.log());
    let log = host.log();
    assert!(log.contains("cluster.redis_url"), "{log}");
    assert!(!log.contains("hunter2"), "no password in errors: {log}");
    sandbox.shutdown().await;
}

/// A Redis that may evict (here `allkeys-lru`) could drop the fences and
/// the leases: a node refuses to join it, in one line saying why, with
/// exit status 1 (the Redis's setting, not the author's files); the same
/// node joins once the policy is `noeviction`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_a_redis_that_evicts() {
    let Some(server) = own_redis(&[]) else {
        return;
    };
    config_set(&server.url, "maxmemory-policy", "allkeys-lru");
    let sandbox = start_sandbox().await;
    let ch = sandbox.control().create_channel("room");
    let svc = cluster_service(&sandbox, &[&ch], &tutorial(), 1_000).await;
    let mut host = node(&svc, &server.url);
    assert_eq!(host.exited().await.code(), Some(1), "{}", host.log());
    let log = host.log();
    let refusal: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("maxmemory-policy"))
        .collect();
    assert_eq!(refusal.len(), 1, "one line: {log}");
    println!("refused: {}", refusal[0]);
    assert!(
        refusal[0].contains("maxmemory-policy allkeys-lru")
            && refusal[0].contains("a cluster needs maxmemory-policy noeviction"),
        "{log}"
    );

    config_set(&server.url, "maxmemory-policy", "noeviction");
    let host = node(&svc, &server.url);
    host.wait_logged("the node joins", &["gateway: serving"])
        .await;
    host.terminate();
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
    let nodes: Vec<HostProcess> = (0..3).map(|_| node(&svc, &server.url)).collect();
    let old = gateway_index(&nodes, "").await;
    all_ready(&nodes).await;
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
    signal(&nodes[old], "STOP");
    let others: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    wait_for("a standby serves as the gateway", || {
        let found = others
            .iter()
            .any(|i| nodes[*i].log().contains("gateway: serving"));
        async move { found.then_some(()) }
    })
    .await;
    c.create_user("bob");
    c.act("bob", &channels[0], "join").await.unwrap();
    wait_sees(&c, "alice", &channels[0], &["alice", "Meow", "bob"]).await;

    signal(&nodes[old], "CONT");
    nodes[old]
        .wait_logged("the old gateway steps down", &["gateway: stepping down"])
        .await;
    nodes[old]
        .wait_logged("its connection is closed", &["platform connection closed"])
        .await;
    assert_eq!(
        c.stats().stale_service_frames,
        0,
        "the deposed gateway wrote to the platform:\n{}",
        nodes[old].log()
    );
    // The service goes on, with the old gateway as a worker again.
    for ch in &channels[1..] {
        c.act("bob", ch, "join").await.unwrap();
        wait_sees(&c, "alice", ch, &["alice", "Meow", "bob"]).await;
    }
    sandbox.shutdown().await;
}

/// Two nodes serving one directory each publish their own admin
/// endpoint (they used to overwrite one `data/admin.token`, so `spell`
/// reached only the last): `spell --all` reaches both, `--url` either one
/// with its own token, and plain `spell` the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_in_one_directory_both_answer_spell() {
    let Some(server) = redis() else { return };
    let sandbox = start_sandbox().await;
    let ch = sandbox.control().create_channel("room");
    let script = format!("{}\nfn on_spell(v) {{ #{{got: v}} }}\n", tutorial());
    let svc = cluster_service(&sandbox, &[&ch], &script, 1_000).await;
    let admin = ["--admin", "127.0.0.1:0"];
    let nodes = [
        node_with(&svc, &server.url, &admin),
        node_with(&svc, &server.url, &admin),
    ];
    gateway_index(&nodes, "").await;
    let dir = svc.path().display().to_string();
    let spell = |extra: &[&str]| {
        let out = std::process::Command::new(binary())
            .args(["spell", "--dir", &dir])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Both have published, and both scripts are loaded.
    let (code, all, err) = wait_for("both nodes answer spell --all", || {
        let answer = spell(&["--all", "\"hi\""]);
        async move { (answer.1.lines().count() == 2 && answer.0 == Some(0)).then_some(answer) }
    })
    .await;
    assert_eq!(code, Some(0), "{all}{err}");
    let urls: Vec<&str> = all
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(u, _)| u))
        .collect();
    assert!(all.lines().all(|l| l.ends_with(r#"{"got":"hi"}"#)), "{all}");
    assert_eq!(urls.len(), 2, "{all}");
    assert_ne!(urls[0], urls[1], "{all}");
    for url in urls {
        let (code, out, err) = spell(&["--url", url, "\"one\""]);
        assert_eq!(code, Some(0), "{url}: {out}{err}");
        assert_eq!(out.trim(), r#"{"got":"one"}"#, "{url}: {err}");
    }
    let (code, out, err) = spell(&["\"any\""]);
    assert_eq!((code, out.trim()), (Some(0), r#"{"got":"any"}"#), "{err}");
    assert!(err.contains("answered by http://127.0.0.1:"), "{err}");
    sandbox.shutdown().await;
}
