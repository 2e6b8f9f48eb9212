//! A user-mode client over a real WebSocket: sign in, `user_login`, read
//! frames, resolve group ids, as a user's browser would.

use super::{json_answer, DEADLINE};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn post(url: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    json_answer(req).await
}

/// Signs in as the sandbox user `name` (created if new), as their browser
/// would: the access token.
pub async fn sign_in(sandbox: &moobius_host::sandbox::Sandbox, name: &str) -> String {
    let user = sandbox.control().create_user(name);
    let signed = post(
        &format!("{}auth/sign_in", sandbox.http_url()),
        None,
        json!({"username": user.email, "password": user.password}),
    )
    .await;
    signed["data"]["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Signs in as a sandbox user and opens a logged-in user WebSocket.
pub async fn user_socket(sandbox: &moobius_host::sandbox::Sandbox, name: &str) -> (Socket, String) {
    let token = sign_in(sandbox, name).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(sandbox.ws_url())
        .await
        .unwrap();
    let login = json!({"type": "user_login", "request_id": "l1", "auth_origin": "cognito", "access_token": token});
    ws.send(Message::text(login.to_string())).await.unwrap();
    // The heartbeat's ack proves the login before it was processed.
    ws.send(Message::text(
        json!({"type": "heartbeat", "request_id": "hb1", "body": {}}).to_string(),
    ))
    .await
    .unwrap();
    next_frame(&mut ws, |f| {
        f["type"] == "copy" && f["body"]["request_id"] == "hb1"
    })
    .await;
    (ws, token)
}

pub async fn next_frame(ws: &mut Socket, want: impl Fn(&Value) -> bool) -> Value {
    let read = async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if want(&v) {
                    return v;
                }
            }
        }
        panic!("socket closed");
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("frame within the deadline")
}

pub async fn expand(
    sandbox: &moobius_host::sandbox::Sandbox,
    token: &str,
    group: &str,
    channel: &str,
    user: &str,
) -> Vec<String> {
    let url = format!(
        "{}user/group?group_id={group}&channel_id={channel}&user_id={user}",
        sandbox.http_url()
    );
    let v = json_answer(reqwest::Client::new().get(url).bearer_auth(token)).await;
    serde_json::from_value(v["data"]["characters"].clone()).unwrap()
}

pub fn is_characters_update(f: &Value) -> bool {
    f["type"] == "update" && f["body"]["subtype"] == "characters"
}
