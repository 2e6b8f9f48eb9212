//! The link's state machine driven by the real sandbox: the states it
//! publishes as it connects, loses its connection and has its token refused
//! (the sandbox's fault API makes each happen).

mod common;
use common::*;
use moobius_host::config::Secret;
use moobius_host::platform::link_state::LinkState;
use moobius_host::platform::ws::{self, LinkOptions, LinkTarget, LoginFrame};
use moobius_host::platform::HttpApi;
use moobius_host::protocol::outbound;
use moobius_host::sandbox::FaultRequest;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Every state name the link published, in order. A `watch` coalesces the
/// states published while the reader was not looking into the last of
/// them, so every notification is recorded, even one that names the state
/// recorded last: the link publishes only transitions, so `live` seen twice
/// in a row means it was left and reached again (on a loaded machine the
/// states in between may all be missed).
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<&'static str>>>);

impl Seen {
    fn record(mut rx: watch::Receiver<LinkState>) -> Self {
        let seen = Seen::default();
        let out = seen.clone();
        tokio::spawn(async move {
            loop {
                let name = rx.borrow_and_update().name();
                if let Ok(mut v) = out.0.lock() {
                    v.push(name);
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        seen
    }

    fn names(&self) -> Vec<&'static str> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn count(&self, name: &str) -> usize {
        self.names().iter().filter(|n| **n == name).count()
    }
}

async fn wait_state(rx: &watch::Receiver<LinkState>, want: &'static str) {
    wait_for(&format!("the link is {want}"), || {
        let now = rx.borrow().name();
        async move { (now == want).then_some(()) }
    })
    .await;
}

/// A link for a new service of `email` on the sandbox, with `opts`; the
/// link's events are read and dropped. Returns the link, its task and the
/// sender that stops it.
async fn service_link(
    sandbox: &moobius_host::sandbox::Sandbox,
    email: &str,
    opts: LinkOptions,
) -> (ws::WsLink, tokio::task::JoinHandle<()>, watch::Sender<bool>) {
    let http =
        Arc::new(HttpApi::new(&sandbox.http_url(), email, Secret::new("pw-for-tests")).unwrap());
    http.sign_in().await.unwrap();
    let service_id = http.create_service("link test").await.unwrap();
    let login: LoginFrame = {
        let http = http.clone();
        Arc::new(move || {
            outbound::service_login("login", http.access_token().expose(), &service_id)
        })
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let target = LinkTarget {
        url: sandbox.ws_url(),
        login,
        http,
    };
    let (link, task) = ws::spawn(target, opts, events_tx, stop);
    // The host reads the link's events; so does this test (and drops them).
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    (link, task, stop_tx)
}

/// Waits until the sandbox has a logged-in socket (the link's).
async fn wait_logged_in(c: &moobius_host::sandbox::SandboxControl) {
    wait_for("the sandbox registered the login", || {
        let n = c.connections().logged_in;
        async move { (n >= 1).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_walks_its_states_through_drops_and_refused_tokens() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let opts = LinkOptions {
        // Long enough that the recorder sees the back-off even on a loaded
        // machine (the test asserts it happened).
        backoff_min: Duration::from_millis(150),
        backoff_max: Duration::from_millis(300),
        ..LinkOptions::default()
    };
    let (link, task, stop_tx) = service_link(&sandbox, "link-states@test.local", opts).await;
    let state = link.state();
    let seen = Seen::record(link.state());
    wait_state(&state, "live").await;
    // The link may call itself live a moment before the sandbox has
    // registered its login; a drop before that would close nothing.
    wait_logged_in(&c).await;

    // A dropped connection: back off, connect, log in, live again.
    c.inject_faults(FaultRequest {
        drop_connections: true,
        ..FaultRequest::default()
    })
    .unwrap();
    wait_for("a second time live", || {
        let n = seen.count("live");
        async move { (n >= 2).then_some(()) }
    })
    .await;
    assert!(seen.count("backoff") >= 1, "{:?}", seen.names());
    wait_logged_in(&c).await;

    // A refused token: sign in again (slowed down, so the state shows), then
    // reconnect with the new token.
    c.inject_faults(FaultRequest {
        reject_tokens: true,
        drop_connections: true,
        delay_ms: Some(300),
        ..FaultRequest::default()
    })
    .unwrap();
    wait_state(&state, "reauthenticating").await;
    c.inject_faults(FaultRequest {
        delay_ms: Some(0),
        ..FaultRequest::default()
    })
    .unwrap();
    wait_for("live after signing in again", || {
        let n = seen.count("live");
        async move { (n >= 3).then_some(()) }
    })
    .await;
    assert!(c.issued_tokens().len() >= 2, "a second sign-in");

    let _ = stop_tx.send(true);
    wait_state(&state, "stopped").await;
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    let names = seen.names();
    // States that last only microseconds (connecting, logging in) may be
    // coalesced by the watch on a busy machine; the lasting ones are not.
    let live_after = |state: &str| {
        names
            .iter()
            .position(|n| *n == state)
            .is_some_and(|i| names[i..].contains(&"live"))
    };
    assert!(live_after("backoff"), "{names:?}");
    assert!(live_after("reauthenticating"), "{names:?}");
    assert_eq!(names.last(), Some(&"stopped"), "{names:?}");
    sandbox.shutdown().await;
}

/// A cluster gateway's link asks its fence before every write: once the
/// fence says no, frames queued after that are never written, the socket
/// is dropped and the link stops instead of reconnecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_link_writes_nothing_more_and_stops() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let allowed = Arc::new(AtomicBool::new(true));
    let fence = {
        let allowed = allowed.clone();
        ws::WriteFence(Arc::new(move || allowed.load(Ordering::SeqCst)))
    };
    let opts = LinkOptions {
        fence: Some(fence),
        ..LinkOptions::default()
    };
    let (link, task, _stop_tx) = service_link(&sandbox, "fenced-link@test.local", opts).await;
    let state = link.state();
    wait_state(&state, "live").await;
    let heartbeats = || c.stats().frames.get("heartbeat").map_or(0, |f| f.count);
    let frame = |i: usize| moobius_host::platform::OutFrame {
        text: outbound::heartbeat(&format!("hb-{i}")),
        request_id: format!("hb-{i}"),
        coalesce_key: None,
    };
    for i in 0..3 {
        link.send(frame(i)).await;
    }
    wait_for("the sandbox reads 3 frames", || {
        let n = heartbeats();
        async move { (n >= 3).then_some(()) }
    })
    .await;
    let before = heartbeats();

    allowed.store(false, Ordering::SeqCst);
    for i in 3..8 {
        link.send(frame(i)).await;
    }
    wait_state(&state, "stopped").await;
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert_eq!(heartbeats(), before, "nothing written once fenced");
    // The sandbox notices the dropped socket on its own task, a moment after
    // the link stopped.
    wait_for("the sandbox sees the socket dropped", || {
        let logged_in = c.connections().logged_in;
        async move { (logged_in == 0).then_some(()) }
    })
    .await;
    assert_eq!(heartbeats(), before, "nothing written once fenced");
    sandbox.shutdown().await;
}
