//! Redis passwords in URLs, in each place a URL carries one (user-info,
//! `?pass=` as redis-rs reads it on a socket, `?password=`), never leave
//! the config or the environment: not in a log line at trace level, not in
//! `/status`, not in `cluster status`, not in a packed bundle. A real
//! `redis-server` with a password (and an ACL user) is what the nodes
//! connect to, so the URLs are working ones.

mod cluster_support;
mod common;
mod store_support;
use cluster_support::*;
use common::bundle::untar;
use common::*;
use std::path::Path;
use std::process::Command;
use store_support::own_redis;

/// The default user's password, given as `?pass=` on the socket URL.
const PASS: &str = "SeCrEt-pass-A";
/// The ACL user's password, given as user-info.
const USER_PW: &str = "SeCrEt-user-B";
/// Given as `?password=` (the Redis client ignores it on TCP; shown
/// anyway, it would leak).
const QUERY_PW: &str = "SeCrEt-query-C";
const SECRETS: [&str; 3] = [PASS, USER_PW, QUERY_PW];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{s} in {what}:\n{text}");
    }
}

/// What a command printed, stdout then stderr.
fn both(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir` but the config (where the secrets belong).
fn files_outside_config(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.ends_with("config") {
            continue;
        }
        if path.is_dir() {
            out.extend(files_outside_config(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passwords_in_urls_reach_no_log_status_report_or_bundle() {
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("redis.sock");
    let sock_arg = sock.display().to_string();
    let acl_pw = format!(">{USER_PW}");
    let Some(server) = own_redis(&[
        "--requirepass",
        PASS,
        "--unixsocket",
        &sock_arg,
        "--user",
        "alice",
        "on",
        &acl_pw,
        "~*",
        "&*",
        "+@all",
    ]) else {
        return;
    };
    let socket_url = format!("redis+unix://{sock_arg}?pass={PASS}");
    let port = server.url.trim_end_matches('/').rsplit(':').next().unwrap();
    let tcp_url = format!("redis://alice:{USER_PW}@127.0.0.1:{port}/0?password={QUERY_PW}");

    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = c.create_channel("room");
    c.create_user("alice");
    c.act("alice", &ch, "join").await.unwrap();
    let svc = cluster_service(&sandbox, &[&ch], &tutorial(), 1_000).await;
    svc.set_config_key(
        "db_config",
        serde_json::json!([{"name": "notes", "implementation": "redis", "redis_url": tcp_url}]),
    );
    let dir = svc.path().display().to_string();
    let trace = [("RUST_LOG", "trace")];
    // One node takes the URL from the environment, one from the command
    // line (and is warned).
    let from_env = [
        ("RUST_LOG", "trace"),
        ("MOOBIUS_CLUSTER_URL", socket_url.as_str()),
    ];
    let args = ["run", "--dir", &dir, "--no-watch", "--admin", "127.0.0.1:0"];
    let nodes = vec![
        HostProcess::spawn_with_env(&args, svc.path(), None, &from_env),
        HostProcess::spawn_with_env(
            &["run", "--dir", &dir, "--no-watch", "--cluster", &tcp_url],
            svc.path(),
            None,
            &trace,
        ),
    ];
    gateway_index(&nodes, "").await;
    all_ready(&nodes).await;
    wait_sees(&c, "alice", &ch, &["alice", "Meow"]).await;

    // /status of the node with the admin endpoint.
    let (url, token) = admin_endpoint(svc.path()).await;
    let status = reqwest::Client::new()
        .get(format!("{url}/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("\"cluster\""), "{status}");
    assert_clean("/status", &status);

    // cluster status, from the environment (no warning) and from the
    // command line (a warning without the password).
    let report = Command::new(binary())
        .args(["cluster", "status", "--dir", &dir])
        .env("MOOBIUS_CLUSTER_URL", &socket_url)
        .output()
        .unwrap();
    let text = both(&report);
    assert!(text.contains("nodes: 2 live"), "{text}");
    assert!(!text.contains("warning"), "{text}");
    assert_clean("cluster status", &text);
    let report = cluster_status(&svc, &tcp_url, false);
    let text = both(&report);
    assert!(text.contains("nodes: 2 live"), "{text}");
    assert!(
        text.contains("warning: --cluster redis://127.0.0.1:")
            && text.contains("set MOOBIUS_CLUSTER_URL instead"),
        "{text}"
    );
    assert_clean("cluster status --cluster", &text);

    // The logs, at trace level, and every file the nodes wrote.
    nodes[1]
        .wait_logged(
            "the command-line warning",
            &["password is on the command line"],
        )
        .await;
    assert!(!nodes[0].log().contains("password is on the command line"));
    for m in &nodes {
        let log = m.log();
        assert!(
            log.contains("DEBUG") || log.contains("TRACE"),
            "verbose:\n{log}"
        );
        assert_clean("a node's log", &log);
    }
    for file in files_outside_config(svc.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert_clean(
            &file.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }

    // A bundle of the service directory, whose config holds the URLs.
    svc.set_config_key(
        "cluster",
        serde_json::json!({"redis_url": socket_url, "partitions": 16}),
    );
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("s.mbx");
    let packed = Command::new(binary())
        .args(["bundle", "pack", &dir, "-o", file.to_str().unwrap()])
        .output()
        .unwrap();
    let said = both(&packed);
    assert!(packed.status.success(), "{said}");
    assert_clean("bundle pack's output", &said);
    assert_clean(
        "the bundle",
        &String::from_utf8_lossy(&untar(&std::fs::read(&file).unwrap())),
    );
    sandbox.shutdown().await;
}
