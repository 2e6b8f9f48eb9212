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

use super::{ControlError, SandboxControl};
use crate::sandbox::router::parse_query;
use crate::sandbox::shared::Shared;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sandbox/users", post(create_user))
        .route("/sandbox/channels", post(create_channel).get(list_channels))
        .route("/sandbox/act", post(act))
        .route("/sandbox/view", get(view))
        .route("/sandbox/members", get(members))
        .route("/sandbox/stats", get(stats))
        .route("/sandbox/faults", post(inject_faults).get(faults))
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

/// Keys of `POST /sandbox/act` that are not the action's own fields.
const ACT_KEYS: [&str; 4] = ["user", "channel_id", "action", "body"];

fn act_str(request: &Map<String, Value>, key: &str) -> Result<String, ControlError> {
    match request.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(ControlError::BadRequest(format!("missing {key:?}")))
        }
        Some(_) => Err(ControlError::BadRequest(format!(
            "{key:?} must be a string"
        ))),
    }
}

/// The action's fields: the older `body` object, overridden by the flat
/// top-level keys.
fn act_fields(request: &Map<String, Value>) -> Result<Map<String, Value>, ControlError> {
    let mut fields = match request.get("body") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(body)) => body.clone(),
        Some(_) => {
            return Err(ControlError::BadRequest(
                "\"body\" must be an object".into(),
            ))
        }
    };
    for (key, value) in request {
        if !ACT_KEYS.contains(&key.as_str()) {
            fields.insert(key.clone(), value.clone());
        }
    }
    Ok(fields)
}

/// One action, or a batch `{"actions": [{...}, ...]}` performed in order and
/// answered once all are handed over (so a driver is never the bottleneck).
async fn act(State(shared): State<Arc<Shared>>, body: Bytes) -> Reply {
    let request: Map<String, Value> = parse(&body)?;
    let control = control(shared);
    if let Some(actions) = request.get("actions") {
        let Value::Array(actions) = actions else {
            return Err(ControlError::BadRequest(
                "\"actions\" must be an array".into(),
            ));
        };
        let mut delivered = Vec::with_capacity(actions.len());
        for (i, item) in actions.iter().enumerate() {
            let Value::Object(item) = item else {
                return Err(ControlError::BadRequest(format!(
                    "actions[{i}] must be an object"
                )));
            };
            delivered.push(act_one(&control, item).await?);
        }
        return Ok(Json(json!({"delivered": delivered})).into_response());
    }
    let delivered = act_one(&control, &request).await?;
    Ok(Json(json!({"delivered": delivered})).into_response())
}

async fn act_one(
    control: &SandboxControl,
    request: &Map<String, Value>,
) -> Result<bool, ControlError> {
    let user = act_str(request, "user")?;
    let channel_id = act_str(request, "channel_id")?;
    let action = act_str(request, "action")?;
    let fields = act_fields(request)?;
    control.act_json(&user, &channel_id, &action, &fields).await
}

async fn list_channels(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).channels()).into_response()
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

async fn inject_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Reply {
    let request: crate::sandbox::faults::FaultRequest = parse(&body)?;
    Ok(Json(control(shared).inject_faults(request)?).into_response())
}

async fn faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(control(shared).faults()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn flat_fields_override_the_body_form() {
        let request = json!({"user": "a", "channel_id": "c", "action": "message",
            "body": {"text": "old", "subtype": "text"}, "text": "new"});
        let fields = request
            .as_object()
            .map(act_fields)
            .and_then(Result::ok)
            .unwrap_or_default();
        assert_eq!(
            Value::Object(fields),
            json!({"text": "new", "subtype": "text"})
        );
        let bad = json!({"body": 3});
        assert!(bad.as_object().map(act_fields).is_some_and(|r| r.is_err()));
        assert_eq!(
            StatusCode::BAD_REQUEST,
            ControlError::BadAction("x".into()).status()
        );
        assert_eq!(
            StatusCode::NOT_FOUND,
            ControlError::UnknownMessage("m".into()).status()
        );
    }
}
