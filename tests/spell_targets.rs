//! Where `moobius-host spell` sends a spell, through the real binary and
//! endpoints on 127.0.0.1:0 published as a running host publishes them: a
//! spell is sent to the next endpoint only when the one before could not be
//! connected to (one sent and then cut off may have run there), and
//! `--url` for an endpoint not published gets no other process's token.

mod common;
use axum::http::HeaderMap;
use axum::{extract::State, routing::post, Json, Router};
use common::*;
use moobius_host::admin::files::publish;
use moobius_host::config::Secret;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;

/// The `Authorization` header of every spell an endpoint received.
type Seen = Arc<Mutex<Vec<String>>>;

async fn answer(State(seen): State<Seen>, headers: HeaderMap) -> Json<serde_json::Value> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    seen.lock().unwrap().push(auth.to_string());
    Json(serde_json::json!({"ok": "answered"}))
}

/// An endpoint that answers every spell with `{"ok": "answered"}`.
async fn answering() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/spell", post(answer))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

/// An endpoint that reads a spell and closes the connection unanswered.
async fn cutting_off() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = s.read(&mut request).await;
        }
    });
    addr
}

/// `moobius-host spell --dir DIR ARGS` without MOOBIUS_ADMIN_TOKEN (or
/// with `token`): its exit code, stdout and stderr.
async fn spell(dir: &Path, args: &[&str], token: Option<&str>) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(binary());
    command.args(["spell", "--dir"]).arg(dir).args(args);
    command.env_remove("MOOBIUS_ADMIN_TOKEN");
    if let Some(t) = token {
        command.env("MOOBIUS_ADMIN_TOKEN", t);
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spell_cut_off_after_sending_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let (older, seen) = answering().await;
    let newer = cutting_off().await;
    let _older = publish(dir.path(), older, &Secret::new("t-older"), true).unwrap();
    let _newer = publish(dir.path(), newer, &Secret::new("t-newer"), true).unwrap();
    // The newer pair is the newest by its time, whatever the clock's grain.
    let url_file = dir.path().join(format!("data/admin/{}.url", older.port()));
    let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .append(true)
        .open(url_file)
        .unwrap()
        .set_modified(earlier)
        .unwrap();
    let (code, out, err) = spell(dir.path(), &["\"once\""], None).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(seen.lock().unwrap().is_empty(), "sent again: {out}{err}");
    // A stopped endpoint (nothing listening) is passed over.
    drop(_newer);
    let stopped: SocketAddr = ([127, 0, 0, 1], closed_port().await).into();
    let _stopped = publish(dir.path(), stopped, &Secret::new("t-stopped"), true).unwrap();
    let (code, out, err) = spell(dir.path(), &["\"once\""], None).await;
    assert_eq!((code, out.trim()), (Some(0), "\"answered\""), "{err}");
    assert_eq!(*seen.lock().unwrap(), ["Bearer t-older"]);
}

/// A port nothing listens on (bound, then let go).
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_not_published_gets_no_other_token() {
    let dir = tempfile::tempdir().unwrap();
    let (elsewhere, seen) = answering().await;
    let published: SocketAddr = ([127, 0, 0, 1], 9).into();
    let _published = publish(dir.path(), published, &Secret::new("t-other"), true).unwrap();
    let url = format!("http://{elsewhere}");
    let (code, out, err) = spell(dir.path(), &["--url", &url, "\"x\""], None).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains(&format!("no token is known for {url}")),
        "{err}"
    );
    assert!(seen.lock().unwrap().is_empty(), "a token was sent");
    let (code, out, err) = spell(dir.path(), &["--url", &url, "\"x\""], Some("t-env")).await;
    assert_eq!((code, out.trim()), (Some(0), "\"answered\""), "{err}");
    assert_eq!(*seen.lock().unwrap(), ["Bearer t-env"]);
}

/// Endpoints left behind by processes that stopped (a kill leaves its
/// files): the spell says nothing answers and what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_stopped_endpoints_say_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let stopped: SocketAddr = ([127, 0, 0, 1], closed_port().await).into();
    let _stopped = publish(dir.path(), stopped, &Secret::new("t-stopped"), true).unwrap();
    let (code, out, err) = spell(dir.path(), &["\"x\""], None).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains(&format!("cannot reach http://{stopped}")),
        "{err}"
    );
    assert!(
        err.contains("no process serving") && err.contains("is the service running with --admin?"),
        "{err}"
    );
}
