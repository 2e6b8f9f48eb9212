//! The platform's REST API (docs/PROTOCOL.md 2.3): the envelope, authentication and
//! the endpoint table.
//!
//! The SDK ignores HTTP status codes and reads only the JSON envelope, sends
//! JSON bodies on some GETs and pastes query strings into paths unencoded, so
//! every endpoint here merges the query and any JSON body into one parameter
//! map, and always answers 200 with `{"code","message","data"}`. Endpoints are
//! plain synchronous functions over the state, run under the lock.

mod account;
mod body;
mod channel;
mod group;
mod service;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Json, Router};

use serde_json::{json, Map, Value};

use super::router::{parse_query, BaseUrl};
use super::shared::Shared;
use super::state::{IdList, State as Truth, StateError};

/// Envelope code meaning success.
pub const OK: u32 = 10000;

/// A failed call, answered with a non-success envelope code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
}

impl ApiError {
    fn code(&self) -> u32 {
        match self {
            ApiError::BadRequest(_) => 40000,
            ApiError::Unauthorized(_) => 40001,
            ApiError::Forbidden(_) => 40003,
            ApiError::NotFound(_) => 40004,
        }
    }
}

impl From<StateError> for ApiError {
    fn from(err: StateError) -> Self {
        let message = err.to_string();
        match err {
            StateError::UnknownUser(_)
            | StateError::UnknownChannel(_)
            | StateError::UnknownService(_)
            | StateError::UnknownGroup(_)
            | StateError::UnknownCharacter(_) => ApiError::NotFound(message),
            StateError::NotOwner(_) => ApiError::Forbidden(message),
            StateError::WrongPassword | StateError::BadToken => ApiError::Unauthorized(message),
            StateError::Invalid(_) => ApiError::BadRequest(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        envelope(self.code(), &self.to_string(), Value::Null)
    }
}

/// `{"code","message","data"}` with HTTP 200 and a JSON content type.
pub fn envelope(code: u32, message: &str, data: Value) -> Response {
    let body = json!({"code": code, "message": message, "data": data});
    (StatusCode::OK, Json(body)).into_response()
}

/// One platform API request: method, bearer token, and merged parameters
/// (JSON body keys win over query keys).
#[derive(Debug)]
pub struct ApiCall {
    pub method: Method,
    pub token: Option<String>,
    pub params: Map<String, Value>,
    /// The body's id lists ([`body::LIST_KEYS`]), read apart from `params`.
    pub lists: Vec<(String, IdList)>,
}

impl<S: Send + Sync> FromRequest<S> for ApiCall {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.trim()
                    .strip_prefix("Bearer")
                    .unwrap_or(v)
                    .trim()
                    .to_string()
            })
            .filter(|t| !t.is_empty());
        let query = req.uri().query().map(parse_query).unwrap_or_default();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|err| ApiError::BadRequest(format!("unreadable body: {err}")))?;
        let (mut params, lists) = if body.iter().all(u8::is_ascii_whitespace) {
            (Map::new(), Vec::new())
        } else if let Some(read) = body::read(&body) {
            (read.values, read.lists)
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => (map, Vec::new()),
                Ok(_) => {
                    return Err(ApiError::BadRequest(
                        "the JSON body must be an object".into(),
                    ))
                }
                Err(err) => return Err(ApiError::BadRequest(format!("invalid JSON body: {err}"))),
            }
        };
        for (key, value) in query {
            params.entry(key).or_insert(Value::String(value));
        }
        Ok(ApiCall {
            method,
            token,
            params,
            lists,
        })
    }
}

/// What an endpoint function sees.
pub struct Ctx<'a> {
    pub state: &'a mut Truth,
    /// The authenticated user id (empty for unauthenticated endpoints).
    pub caller: String,
    pub token: Option<String>,
    pub method: Method,
    pub params: Map<String, Value>,
    /// The body's id lists, taken by [`Ctx::id_list`].
    pub lists: Vec<(String, IdList)>,
    /// Base URL of the listener the request came in on, with a trailing `/`.
    pub base: &'a str,
}

impl Ctx<'_> {
    /// A required string parameter.
    pub fn str(&self, key: &str) -> Result<&str, ApiError> {
        self.opt_str(key)
            .ok_or_else(|| ApiError::BadRequest(format!("missing parameter {key:?}")))
    }

    /// An optional string parameter (numbers are not strings here).
    pub fn opt_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }

    /// A list of id strings given as a JSON list (or a single string): as
    /// the body's reading kept it apart, or from the query or a tree.
    pub fn id_list(&mut self, key: &str) -> Result<IdList, ApiError> {
        if let Some(at) = self.lists.iter().position(|(k, _)| k == key) {
            return Ok(self.lists.swap_remove(at).1);
        }
        match self.params.remove(key) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| ApiError::BadRequest(format!("{key:?} must hold strings")))
                })
                .collect(),
            Some(Value::String(one)) => Ok(IdList::from_iter([one])),
            _ => Err(ApiError::BadRequest(format!("missing list {key:?}"))),
        }
    }
}

type Endpoint = fn(&mut Ctx<'_>) -> Result<Value, ApiError>;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// Anyone: the account calls, which carry credentials or nothing.
    Open,
    /// A caller with a valid access token (`Authorization: Bearer`); the
    /// endpoint sees its user id.
    Token,
}

/// (path, who may call it, function). Methods are not enforced: the SDK
/// is the only judge and it never sends a wrong one.
const ENDPOINTS: &[(&str, Auth, Endpoint)] = &[
    ("/auth/sign_in", Auth::Open, account::sign_in),
    ("/auth/refresh", Auth::Open, account::refresh),
    ("/auth/sign_out", Auth::Token, account::sign_out),
    ("/auth/sign_up", Auth::Open, account::sign_up),
    ("/auth/resend_confirmation", Auth::Open, account::accept),
    ("/auth/confirm_sign_up", Auth::Open, account::accept),
    ("/auth/forgot_password", Auth::Open, account::accept),
    ("/auth/confirm_reset_password", Auth::Open, account::accept),
    ("/auth/delete_account", Auth::Open, account::accept),
    ("/user/info", Auth::Token, account::user_info),
    (
        "/character/fetch_profile",
        Auth::Token,
        service::fetch_profile,
    ),
    ("/service/create", Auth::Token, service::create),
    ("/service/list", Auth::Token, service::list),
    ("/service/bind", Auth::Token, service::bind),
    ("/service/unbind", Auth::Token, service::unbind),
    (
        "/service/character/create",
        Auth::Token,
        service::agent_create,
    ),
    (
        "/service/character/update",
        Auth::Token,
        service::agent_update,
    ),
    ("/service/character/list", Auth::Token, service::agent_list),
    ("/channel/create", Auth::Token, channel::create),
    ("/channel/update", Auth::Token, channel::update),
    ("/channel/list", Auth::Token, channel::list_mine),
    ("/channel/popular", Auth::Token, channel::list_all),
    ("/channel/character_list", Auth::Token, channel::members),
    ("/channel/history_message", Auth::Token, channel::history),
    ("/service/group/create", Auth::Token, group::service_create),
    ("/service/group", Auth::Token, group::fetch),
    ("/user/group/create", Auth::Token, group::user_create),
    ("/user/group", Auth::Token, group::fetch),
    ("/user/group/list", Auth::Token, group::list),
    ("/user/group/temp", Auth::Token, group::temp),
    ("/file/upload", Auth::Token, super::files::upload_ticket),
];

/// The router serving every endpoint of `ENDPOINTS`.
pub fn routes() -> Router<Arc<Shared>> {
    ENDPOINTS
        .iter()
        .fold(Router::new(), |router, &(path, auth, endpoint)| {
            router.route(
                path,
                any(
                    move |State(shared): State<Arc<Shared>>,
                          Extension(base): Extension<BaseUrl>,
                          call: ApiCall| async move {
                        dispatch(&shared, &base, call, auth, endpoint)
                    },
                ),
            )
        })
}

fn dispatch(
    shared: &Shared,
    base: &BaseUrl,
    call: ApiCall,
    auth: Auth,
    endpoint: Endpoint,
) -> Response {
    let mut world = shared.world();
    let caller = if auth == Auth::Token {
        let user = call
            .token
            .as_deref()
            .and_then(|token| world.state.user_for_token(token).ok());
        match user {
            Some(user_id) => user_id.to_string(),
            None => {
                return ApiError::Unauthorized("missing or invalid access token".into())
                    .into_response()
            }
        }
    } else {
        String::new()
    };
    let mut ctx = Ctx {
        state: &mut world.state,
        caller,
        token: call.token,
        method: call.method,
        params: call.params,
        lists: call.lists,
        base: &base.0,
    };
    match endpoint(&mut ctx) {
        Ok(data) => envelope(OK, "ok", data),
        Err(err) => {
            tracing::debug!(%err, "platform API call failed");
            err.into_response()
        }
    }
}
