//! A closed WebSocket connection leaves nothing behind in the sandbox: no
//! task, no entry in the connection table.

mod common;
mod sandbox_support;

use common::wait_for;
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
