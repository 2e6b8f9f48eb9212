//! What a WebSocket connection costs the sandbox, and that a closed one
//! leaves nothing behind: no task, no entry in the connection table, and
//! (in a separate `moobius-host sandbox` process) little memory while open.

mod common;
mod sandbox_support;

use common::{wait_for, HostProcess};
use moobius_host::sandbox::{Connections, MAX_FAILED_LOGINS};
use sandbox_support::{Served, Ws};
use serde_json::json;

const NONE: Connections = Connections {
    open: 0,
    logged_in: 0,
};

/// Opens a socket and leaves it in one of three states: a user logged in,
/// not logged in (a heartbeat was acknowledged), or refused one login.
async fn open(w: &Served, token: &str, kind: usize) -> Ws {
    let mut ws = Ws::connect(&w.sandbox.ws_url()).await;
    match kind % 3 {
        0 => {
            ws.send(json!({"type": "user_login", "request_id": "ul", "access_token": token}))
                .await;
            ws.ack_of("ul").await;
        }
        1 => {
            ws.send(json!({"type": "heartbeat", "request_id": "hb"}))
                .await;
            ws.ack_of("hb").await;
        }
        _ => {
            ws.send(json!({"type": "user_login", "request_id": "bad", "access_token": "wrong"}))
                .await;
            assert_eq!(ws.next_json().await["type"], "error");
        }
    }
    ws
}

async fn wait_all_gone(w: &Served) {
    wait_for("no connection left", || async {
        (w.control.connections() == NONE).then_some(())
    })
    .await;
}

#[tokio::test]
async fn closed_connections_leave_no_task_and_no_registration() {
    let w = Served::start().await;
    let alice = w.control.create_user("alice");
    let token = w.api.sign_in(&alice.email, &alice.password).await;
    assert_eq!(w.control.connections(), NONE);
    for round in 0..3 {
        let mut sockets = Vec::new();
        for kind in 0..30 {
            sockets.push(open(&w, &token, kind).await);
        }
        sockets.push(w.service_ws().await);
        assert_eq!(
            w.control.connections(),
            Connections {
                open: 31,
                logged_in: 11
            },
            "round {round}"
        );
        // Half say goodbye, half just drop the TCP connection.
        for (i, ws) in sockets.into_iter().enumerate() {
            if i % 2 == 0 {
                ws.close().await;
            } else {
                drop(ws);
            }
        }
        wait_all_gone(&w).await;
    }
    // A socket the sandbox closes itself (too many failed logins) goes too.
    let mut ws = Ws::connect(&w.sandbox.ws_url()).await;
    for _ in 0..MAX_FAILED_LOGINS {
        ws.send(json!({"type": "user_login", "request_id": "bad", "access_token": "wrong"}))
            .await;
        assert_eq!(ws.next_json().await["type"], "error");
    }
    wait_all_gone(&w).await;
    w.sandbox.shutdown().await;
}

/// Anonymous memory of a process, in KiB (Linux).
#[cfg(target_os = "linux")]
fn rss_anon_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no RssAnon in {status}"))
}

/// A memory figure, not a timing one: each open socket used to allocate a
/// 128 KiB read buffer up front (64 MiB for 500 sockets), most of which the
/// C allocator then kept after they closed.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_costs_the_sandbox_process_little_memory() {
    const SOCKETS: u64 = 200;
    const MAX_KIB_PER_SOCKET: u64 = 48;
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let ready_arg = ready.display().to_string();
    let mut sandbox = HostProcess::spawn(&["sandbox", "--ready-file", &ready_arg], dir.path());
    let info: serde_json::Value = wait_for("the ready file", || {
        let text = std::fs::read_to_string(&ready).ok();
        async move { text.and_then(|t| serde_json::from_str(&t).ok()) }
    })
    .await;
    let url = info["ws"].as_str().expect("ws url").to_string();
    let pid = sandbox.child.id();
    let heartbeat = |ws: Ws| async move {
        let mut ws = ws;
        ws.send(json!({"type": "heartbeat", "request_id": "hb"}))
            .await;
        ws.ack_of("hb").await;
        ws
    };
    // One connection first, so that what every connection shares is built.
    heartbeat(Ws::connect(&url).await).await.close().await;
    let before = rss_anon_kib(pid);
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        sockets.push(heartbeat(Ws::connect(&url).await).await);
    }
    let open = rss_anon_kib(pid);
    for ws in sockets {
        ws.close().await;
    }
    let after = rss_anon_kib(pid);
    eprintln!("sandbox RssAnon: {before} KiB, {open} KiB with {SOCKETS} sockets open, {after} KiB after they closed");
    let per_socket = open.saturating_sub(before) / SOCKETS;
    assert!(
        per_socket < MAX_KIB_PER_SOCKET,
        "{per_socket} KiB per open socket ({before} KiB -> {open} KiB for {SOCKETS})"
    );
    sandbox.kill();
}
