//! Helpers shared by the sandbox integration tests: an HTTP client for the
//! platform envelope API and a small WebSocket client that waits for frames
//! with a deadline (never a bare sleep).

#![allow(dead_code)] // each test crate uses a different subset

use futures_util::{SinkExt, StreamExt};
use moobius_host::sandbox::Sandbox;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

// Also loaded by `common` in tests that use both: one source, one figure.
#[allow(clippy::duplicate_mod)]
#[path = "../common/deadline.rs"]
mod deadline;
pub use deadline::DEADLINE;

// Also loaded by `common` (for the Python tests' TLS sandbox).
#[allow(clippy::duplicate_mod)]
#[path = "../common/loopback.rs"]
mod loopback;
pub use loopback::start_on_loopback;

/// A plain (no TLS) sandbox on a free loopback port.
pub async fn start() -> Sandbox {
    start_on_loopback(false).await
}

/// A platform API client bound to one sandbox.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: reqwest::Client::new(),
        }
    }

    /// Sends a request (JSON body if given) and returns the whole envelope,
    /// checking the HTTP status and content type on the way.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let url = format!("{}{}", self.base, path.trim_start_matches('/'));
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            request = request
                .header("Authorization", format!("Bearer {token}"))
                .header("Auth-Origin", "cognito");
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), 200, "platform API always answers 200");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("application/json"),
            "content type {content_type}"
        );
        response.json().await.expect("JSON envelope")
    }

    /// Like `call`, but asserts success and returns `data`.
    pub async fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let envelope = self.call(method, path, Some(token), body).await;
        assert_eq!(
            envelope["code"], 10000,
            "{method} {path} failed: {envelope}"
        );
        envelope["data"].clone()
    }

    /// Signs in (creating the account if new) and returns the access token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let envelope = self
            .call(
                "POST",
                "/auth/sign_in",
                None,
                Some(json!({"username": email, "password": password})),
            )
            .await;
        assert_eq!(envelope["code"], 10000, "sign-in failed: {envelope}");
        envelope["data"]["AuthenticationResult"]["AccessToken"]
            .as_str()
            .expect("access token")
            .to_string()
    }
}

/// A WebSocket client speaking JSON text frames.
pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn connect(url: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Ws { stream }
    }

    pub fn from_stream(stream: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Ws {
        Ws { stream }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .expect("frame sent");
    }

    /// Sends a close frame and waits for the server's, within the deadline.
    pub async fn close(mut self) {
        self.stream.close(None).await.expect("close frame sent");
        while let Ok(Some(Ok(_))) = tokio::time::timeout(DEADLINE, self.stream.next()).await {}
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("frame sent");
    }

    /// The next item of the stream, whatever it is (no deadline).
    pub async fn next_raw(
        &mut self,
    ) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        self.stream.next().await
    }

    /// The next raw message, within the deadline.
    pub async fn next_message(&mut self) -> Message {
        tokio::time::timeout(DEADLINE, self.stream.next())
            .await
            .expect("a frame before the deadline")
            .expect("stream still open")
            .expect("valid frame")
    }

    /// The next JSON text frame (skipping control frames).
    pub async fn next_json(&mut self) -> Value {
        loop {
            if let Message::Text(text) = self.next_message().await {
                return serde_json::from_str(text.as_str()).expect("JSON frame");
            }
        }
    }

    /// The next frame that is not a `copy` acknowledgement.
    pub async fn next_event(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] != "copy" {
                return frame;
            }
        }
    }

    /// Waits for the `copy` acknowledging `request_id`.
    pub async fn ack_of(&mut self, request_id: &str) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == "copy" && frame["body"]["request_id"] == request_id {
                return frame;
            }
        }
    }
}

/// The keys of a `message_up` body as a service receives it, sorted (as
/// [`keys`] gives them): the same for a message from any source.
pub const MESSAGE_BODY_KEYS: [&str; 8] = [
    "channel_id",
    "content",
    "context",
    "message_id",
    "recipients",
    "sender",
    "subtype",
    "timestamp",
];

/// The sorted keys of a JSON object.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// A signed-in service account with one service bound to a fresh channel
/// (its WebSocket not yet connected), plus control-API helpers.
pub struct Served {
    pub sandbox: Sandbox,
    pub control: moobius_host::sandbox::SandboxControl,
    pub api: Api,
    pub token: String,
    pub service_id: String,
    pub channel_id: String,
}

impl Served {
    pub async fn start() -> Served {
        let sandbox = start().await;
        let control = sandbox.control();
        let api = Api::new(&sandbox.http_url());
        let token = api.sign_in("service@example.com", "pw").await;
        let service_id = api.ok("POST", "/service/create", &token, None).await["service_id"]
            .as_str()
            .expect("service id")
            .to_string();
        let channel_id = control.create_channel("lobby");
        api.ok(
            "POST",
            "/service/bind",
            &token,
            Some(json!({"channel_id": channel_id, "service_id": service_id})),
        )
        .await;
        Served {
            sandbox,
            control,
            api,
            token,
            service_id,
            channel_id,
        }
    }

    /// Connects and logs in as the service; waits for the login's ack.
    pub async fn service_ws(&self) -> Ws {
        let mut ws = Ws::connect(&self.sandbox.ws_url()).await;
        ws.send(
            json!({"type": "service_login", "request_id": "login-1", "auth_origin": "cognito",
                   "access_token": self.token, "service_id": self.service_id}),
        )
        .await;
        let ack = ws.ack_of("login-1").await;
        assert_eq!(ack["body"]["status"], true);
        ws
    }

    /// A service group of `ids`.
    pub async fn group(&self, ids: &[&str]) -> String {
        let data = self
            .api
            .ok(
                "POST",
                "/service/group/create",
                &self.token,
                Some(json!({"group_id": "", "characters": ids})),
            )
            .await;
        data.as_str().expect("group id").to_string()
    }

    /// Expands a group id the way the SDK does (`GET /user/group`).
    pub async fn expand(&self, group_id: &str, sender: &str) -> Value {
        let path = format!(
            "/user/group?group_id={group_id}&channel_id={}&user_id={sender}",
            self.channel_id
        );
        self.api.ok("GET", &path, &self.token, None).await["characters"].clone()
    }

    /// Creates an agent of the service and returns its id.
    pub async fn agent(&self, name: &str) -> String {
        let body = json!({"service_id": self.service_id,
                          "context": {"name": name, "avatar": null, "description": null}});
        self.api
            .ok("POST", "/service/character/create", &self.token, Some(body))
            .await["character_id"]
            .as_str()
            .expect("agent id")
            .to_string()
    }

    /// `POST /sandbox/act` with `request` (user/channel defaults filled in);
    /// returns the HTTP status and the JSON answer.
    pub async fn act(&self, mut request: Value) -> (u16, Value) {
        if let Some(map) = request.as_object_mut() {
            map.entry("channel_id")
                .or_insert_with(|| json!(self.channel_id));
        }
        self.control_call(reqwest::Method::POST, "act", Some(request))
            .await
    }

    /// Any control-API call under `/sandbox/`.
    pub async fn control_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}sandbox/{path}", self.api.base);
        let mut request = self.api.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// Sends a frame as the service and waits for its ack, so everything it
    /// caused is visible afterwards.
    pub async fn send_acked(&self, service: &mut Ws, mut frame: Value) {
        let request_id = format!("r-{}", uuid::Uuid::new_v4());
        frame["request_id"] = json!(request_id);
        service.send(frame).await;
        service.ack_of(&request_id).await;
    }
}
