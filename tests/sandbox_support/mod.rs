//! Helpers shared by the sandbox integration tests: an HTTP client for the
//! platform envelope API and a small WebSocket client that waits for frames
//! with a deadline (never a bare sleep).

#![allow(dead_code)] // each test crate uses a different subset

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use moobius_host::sandbox::{Sandbox, SandboxOptions};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub async fn start() -> Sandbox {
    Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        tls: false,
    })
    .await
    .expect("sandbox starts")
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
