//! The platform's WebSocket endpoint: one task per socket that logs it in as
//! a service or a user, and routes its frames.
//!
//! Every socket gets a writer task fed by a bounded queue (see `hub.rs`), so
//! frames to one client keep their order. Every recognised frame, heartbeats
//! included, is acknowledged with a `copy` frame: the SDK reconnects after
//! 256 s without an application frame (docs/PROTOCOL.md 3.6). A refused login gets one
//! error frame and never `copy` + `status:false`, which would make the SDK
//! re-login in a loop; after `MAX_FAILED_LOGINS` refusals the socket is
//! closed, with the reason in the close frame. A bad frame is logged and
//! ignored; it never closes the socket. Frames from services are counted per
//! type, with their largest size, so tests can see what actually travelled.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::hub::{ConnHandle, Outgoing, QUEUE_CAPACITY};
use super::shared::Shared;
use super::state::{new_id, StateError};
use super::upward::UserAction;

/// Largest accepted frame/message (the SDK's own limit).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Refused logins (`service_login` or `user_login`, counted together) one
/// WebSocket may have. The refusal that reaches this number still gets its
/// error frame, then a close frame (1008, policy violation) whose reason
/// says why, and the connection ends: a wrong token cannot be retried, or
/// guessed at, forever on one connection. A client that reconnects starts
/// again at zero, as it would on the platform.
pub const MAX_FAILED_LOGINS: u32 = 3;

/// Close code for a client that broke the rules (RFC 6455, 7.4.1).
const CLOSE_POLICY: u16 = 1008;
/// Close code for a server going away.
const CLOSE_GOING_AWAY: u16 = 1001;

/// How long a closing connection may take to flush its queue.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The read buffer each socket allocates up front. The WebSocket library's
/// default is 128 KiB per connection, which is what 500 open connections
/// cost (64 MiB), and the C allocator keeps most of that after they close.
/// Platform frames are small; a larger frame grows the buffer to its length
/// (up to `MAX_MESSAGE`) while it is read.
const READ_BUFFER: usize = 8 << 10;

/// `GET /ws`: upgrades to a platform WebSocket.
pub async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_failed_upgrade(|err| tracing::debug!(%err, "websocket upgrade failed"))
        .on_upgrade(move |socket| run(socket, shared))
}

/// Who a socket speaks for, once logged in.
#[derive(Debug, Clone)]
enum Login {
    Service(String),
    User(String),
}

struct Session {
    conn: ConnHandle,
    login: Option<Login>,
    /// Refused `service_login`/`user_login` frames so far (never reset).
    failed_logins: u32,
}

/// Writes what is queued for one socket, in order. Frames queued together
/// are written together and flushed once: under load that is one write per
/// burst instead of one per frame.
fn spawn_writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    paused: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        'conn: while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                if !paused.load(Ordering::Relaxed) {
                    // (a silent, half-open connection loses what it sends)
                    let message = match item {
                        Outgoing::Text(text) => Message::Text(text.into()),
                        Outgoing::Close(code, reason) => {
                            let frame = CloseFrame {
                                code,
                                reason: reason.into(),
                            };
                            let _ = sink.send(Message::Close(Some(frame))).await;
                            break 'conn;
                        }
                    };
                    if sink.feed(message).await.is_err() {
                        break 'conn;
                    }
                }
                next = rx.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    })
}

/// Counts one socket task as live while it exists, so that tests can see
/// every connection's task end (`SandboxControl::connections`).
struct LiveSocket<'a>(&'a Shared);

impl<'a> LiveSocket<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.socket_opened();
        LiveSocket(shared)
    }
}

impl Drop for LiveSocket<'_> {
    fn drop(&mut self) {
        self.0.socket_closed();
    }
}

async fn run(socket: WebSocket, shared: Arc<Shared>) {
    let _live = LiveSocket::new(&shared);
    let conn_id = shared.next_conn_id();
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let kill = Arc::new(Notify::new());
    let paused = Arc::new(AtomicBool::new(false));
    let (sink, mut stream) = socket.split();
    let mut writer = spawn_writer(sink, rx, paused.clone());
    let mut session = Session {
        conn: ConnHandle::new(conn_id, tx, kill.clone(), paused),
        login: None,
        failed_logins: 0,
    };
    let mut shutdown = shared.shutdown_signal();
    tracing::debug!(conn = conn_id, "websocket connected");
    let mut killed = false;
    loop {
        let text = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Binary(_))) => {
                    tracing::debug!(conn = conn_id, "binary frame ignored");
                    continue;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => continue, // pings are answered by the library; pongs need nothing
                Some(Err(err)) => {
                    tracing::debug!(conn = conn_id, %err, "websocket read failed");
                    break;
                }
            },
            () = kill.notified() => {
                killed = true;
                break;
            }
            _ = shutdown.wait_for(|stop| *stop) => {
                let reason = "sandbox shutting down".to_string();
                session.conn.queue(Outgoing::Close(CLOSE_GOING_AWAY, reason));
                break;
            }
        };
        if session.conn.is_paused() {
            continue; // a silent (half-open) connection: the frame is lost
        }
        if let Some(delay) = shared.faults.delay() {
            tokio::time::sleep(delay).await;
        }
        session.on_text(&shared, text.as_str());
        if session.close_for_failed_logins() {
            break;
        }
    }
    shared.world().hub.remove_conn(conn_id);
    drop(session);
    if killed
        || tokio::time::timeout(FLUSH_TIMEOUT, &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
    tracing::debug!(conn = conn_id, "websocket closed");
}

/// `{"type":"copy"}` acknowledging the frame `request_id` of `origin_type`.
fn copy_frame(request_id: &Value, origin_type: &str) -> Value {
    json!({"type": "copy", "request_id": new_id(), "body": {
        "request_id": request_id, "origin_type": origin_type, "status": true,
        "context": {"message": "ok"},
    }})
}

impl Session {
    /// After [`MAX_FAILED_LOGINS`] refused logins: queues the close frame
    /// (after the last error frame) and returns true to end the connection.
    fn close_for_failed_logins(&self) -> bool {
        if self.failed_logins < MAX_FAILED_LOGINS {
            return false;
        }
        tracing::warn!(
            conn = self.conn.id,
            failed = self.failed_logins,
            "too many failed logins; closing the connection"
        );
        let reason = format!("too many failed logins ({MAX_FAILED_LOGINS}) on this connection");
        self.conn.queue(Outgoing::Close(CLOSE_POLICY, reason));
        true
    }

    /// Counts a frame on a service connection that another connection of
    /// the same service has replaced.
    fn note_if_stale(&self, shared: &Shared, kind: &str) {
        let Some(Login::Service(service_id)) = &self.login else {
            return;
        };
        let mut world = shared.world();
        if world
            .hub
            .service(service_id)
            .is_some_and(|c| c.id != self.conn.id)
        {
            world.state.stats.stale_service_frames += 1;
            tracing::warn!(
                conn = self.conn.id,
                service_id,
                kind,
                "frame on a replaced service connection"
            );
        }
    }

    fn on_text(&mut self, shared: &Shared, text: &str) {
        let frame = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(frame)) => frame,
            _ => {
                tracing::debug!(
                    conn = self.conn.id,
                    "ignoring a frame that is not a JSON object"
                );
                return;
            }
        };
        let kind = frame
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let request_id = frame.get("request_id").cloned().unwrap_or(Value::Null);
        self.note_if_stale(shared, &kind);
        let handled = match kind.as_str() {
            "heartbeat" => true,
            "service_login" => self.service_login(shared, &frame),
            "user_login" => self.user_login(shared, &frame),
            "update" | "message_down" => match &self.login {
                Some(Login::Service(service_id)) => {
                    let mut world = shared.world();
                    let id = request_id.as_str().unwrap_or_default();
                    if world.state.first_delivery(service_id, id) {
                        world.service_frame(service_id, &frame);
                    } else {
                        tracing::debug!(
                            service_id,
                            request_id = id,
                            "repeated request id: acknowledged, not delivered again"
                        );
                    }
                    true
                }
                _ => false,
            },
            "action" | "message_up" | "refresh" => match &self.login {
                Some(Login::User(user_id)) => {
                    user_frame(shared, user_id, &kind, &frame);
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if let Some(Login::Service(_)) = &self.login {
            shared.world().state.count_frame(&kind, text.len());
        }
        if handled {
            self.conn.send(&copy_frame(&request_id, &kind));
        } else {
            tracing::debug!(
                conn = self.conn.id,
                kind,
                "frame ignored (unknown type or not logged in)"
            );
        }
    }

    /// Binds the socket to a service; false (after one error frame) if the
    /// token or service id is not acceptable.
    fn service_login(&mut self, shared: &Shared, frame: &Map<String, Value>) -> bool {
        let token = frame
            .get("access_token")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let service_id = frame
            .get("service_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut world = shared.world();
        let checked = world
            .state
            .user_for_token(token)
            .and_then(|user_id| world.state.owned_service(user_id, service_id).map(|_| ()));
        match checked {
            Ok(()) => {
                world.hub.remove_conn(self.conn.id);
                world.hub.set_service(service_id, self.conn.clone());
                tracing::info!(conn = self.conn.id, service_id, "service logged in");
                self.login = Some(Login::Service(service_id.to_string()));
                true
            }
            Err(err) => {
                self.refuse(frame, "service_login", &err);
                false
            }
        }
    }

    /// Binds the socket to a user.
    fn user_login(&mut self, shared: &Shared, frame: &Map<String, Value>) -> bool {
        let token = frame
            .get("access_token")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut world = shared.world();
        match world.state.user_for_token(token).map(str::to_string) {
            Ok(user_id) => {
                world.hub.remove_conn(self.conn.id);
                world.hub.add_user(&user_id, self.conn.clone());
                tracing::info!(conn = self.conn.id, user_id, "user logged in");
                self.login = Some(Login::User(user_id));
                true
            }
            Err(err) => {
                self.refuse(frame, "user_login", &err);
                false
            }
        }
    }

    /// One error frame per refused login (never `copy` + `status:false`).
    fn refuse(&mut self, frame: &Map<String, Value>, origin_type: &str, err: &StateError) {
        self.failed_logins = self.failed_logins.saturating_add(1);
        tracing::warn!(conn = self.conn.id, origin_type, %err, failed = self.failed_logins, "login refused");
        self.conn
            .send(&json!({"type": "error", "request_id": new_id(), "body": {
                "request_id": frame.get("request_id").cloned().unwrap_or(Value::Null),
                "origin_type": origin_type,
                "message": err.to_string(),
            }}));
    }
}

/// Routes a frame from a logged-in user client.
fn user_frame(shared: &Shared, user_id: &str, kind: &str, frame: &Map<String, Value>) {
    let Some(body) = frame.get("body").and_then(Value::as_object) else {
        tracing::debug!(kind, "user frame without a body ignored");
        return;
    };
    let Some(channel_id) = body.get("channel_id").and_then(Value::as_str) else {
        tracing::debug!(kind, "user frame without body.channel_id ignored");
        return;
    };
    let subtype = body
        .get("subtype")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let action = match (kind, subtype) {
        ("message_up", _) => UserAction::Message(body.clone()),
        ("refresh", _) => UserAction::Refresh,
        (_, "button_click") => UserAction::ButtonClick(body.clone()),
        (_, "menu_item_click") => UserAction::MenuItemClick(body.clone()),
        (_, name) => match UserAction::from_name(name) {
            Some(action) => action,
            None => {
                tracing::debug!(subtype, "user action of unknown subtype ignored");
                return;
            }
        },
    };
    match shared.world().user_action(user_id, channel_id, action) {
        Ok(delivered) => {
            tracing::debug!(user_id, channel_id, kind, subtype, delivered, "user event")
        }
        Err(err) => tracing::debug!(user_id, channel_id, %err, "user event refused"),
    }
}
