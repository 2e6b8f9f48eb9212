//! The control API under `/sandbox/`: JSON over HTTP for tests, scripts and
//! the dev page, with real HTTP statuses (unlike the platform API).
//!
//! Every endpoint is a thin wrapper around a `SandboxControl` method, so the
//! in-process and HTTP paths cannot drift apart. Request bodies are parsed by
//! hand so malformed ones get a JSON `{"error"}` answer, not a text one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::control::{ControlError, SandboxControl};
use super::router::parse_query;
use super::shared::Shared;
use super::upward::UserAction;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sandbox/users", post(create_user))
        .route("/sandbox/channels", post(create_channel))
        .route("/sandbox/act", post(act))
        .route("/sandbox/view", get(view))
        .route("/sandbox/members", get(members))
        .route("/sandbox/stats", get(stats))
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({"error": self.to_string()}))).into_response()
    }
}

type Reply = Result<Response, ControlError>;

fn control(shared: Arc<Shared>) -> SandboxControl {
    SandboxControl::new(shared)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(body).map_err(|err| ControlError::BadRequest(err.to_string()))
}

fn query_param(query: Option<&str>, key: &str) -> Result<String, ControlError> {
    parse_query(query.unwrap_or_default())
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .ok_or_else(|| ControlError::BadRequest(format!("missing query parameter {key:?}")))
}

#[derive(Deserialize)]
struct NameRequest {
    name: String,
}

async fn create_user(State(shared): State<Arc<Shared>>, body: Bytes) -> Reply {
    let request: NameRequest = parse(&body)?;
    if request.name.trim().is_empty() {
        return Err(ControlError::BadRequest("empty name".into()));
    }
    Ok(Json(control(shared).create_user(&request.name)).into_response())
}

async fn create_channel(State(shared): State<Arc<Shared>>, body: Bytes) -> Reply {
    let request: NameRequest = parse(&body)?;
    let channel_id = control(shared).create_channel(&request.name);
    Ok(Json(json!({"channel_id": channel_id})).into_response())
}

#[derive(Deserialize)]
struct ActRequest {
    user: String,
    channel_id: String,
    action: String,
    /// The client's frame body, for actions that carry one (message and
    /// clicks), e.g. `{"button_id": "go", "arguments": [...]}`.
    #[serde(default)]
    body: Map<String, Value>,
}

/// Maps a control action name (and its body) to a user action.
fn user_action(name: &str, body: Map<String, Value>) -> Result<UserAction, ControlError> {
    match name {
        "message" => Ok(UserAction::Message(body)),
        "button_click" => Ok(UserAction::ButtonClick(body)),
        "menu_item_click" => Ok(UserAction::MenuItemClick(body)),
        other => {
            UserAction::from_name(other).ok_or_else(|| ControlError::BadAction(other.to_string()))
        }
    }
}

async fn act(State(shared): State<Arc<Shared>>, body: Bytes) -> Reply {
    let request: ActRequest = parse(&body)?;
    let action = user_action(&request.action, request.body)?;
    let delivered = control(shared)
        .perform(&request.user, &request.channel_id, action)
        .await?;
    Ok(Json(json!({"delivered": delivered})).into_response())
}

async fn view(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Reply {
    let user = query_param(query.as_deref(), "user")?;
    let channel_id = query_param(query.as_deref(), "channel_id")?;
    Ok(Json(control(shared).view(&user, &channel_id)?).into_response())
}

async fn members(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Reply {
    let channel_id = query_param(query.as_deref(), "channel_id")?;
    let members = control(shared).members(&channel_id)?;
    Ok(Json(json!({"members": members})).into_response())
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).stats()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn action_names_map_to_user_actions() {
        assert!(matches!(
            user_action("join", Map::new()),
            Ok(UserAction::Join)
        ));
        assert!(matches!(
            user_action("leave", Map::new()),
            Ok(UserAction::Leave)
        ));
        assert!(matches!(
            user_action("refresh", Map::new()),
            Ok(UserAction::Refresh)
        ));
        assert!(matches!(
            user_action("dance", Map::new()),
            Err(ControlError::BadAction(_))
        ));
        assert_eq!(
            StatusCode::BAD_REQUEST,
            ControlError::BadAction("x".into()).status()
        );
    }
}
