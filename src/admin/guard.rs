//! The token check, as a middleware in front of every route that wants it:
//! it reads only the headers, so a request without the token is answered
//! 401 before a byte of its body is read (a handler taking the body as an
//! argument would have buffered it first, token or not). Only then is the
//! body read, within [`BODY_LIMIT`] and [`BODY_READ_TIMEOUT`].

use super::bounds::{BODY_LIMIT, BODY_READ_TIMEOUT, DEPLOY_BODY_LIMIT, DEPLOY_BODY_READ_TIMEOUT};
use super::{token, Admin};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// Refuses a request without the token; reads the body of one with it
/// (bounded in size and time) and passes it on.
pub(super) async fn require_token(
    State(admin): State<Arc<Admin>>,
    request: Request,
    next: Next,
) -> Response {
    guarded(&admin, request, next, BODY_LIMIT, BODY_READ_TIMEOUT).await
}

/// The same for `POST /deploy`, whose body is a bundle: its own cap
/// ([`DEPLOY_BODY_LIMIT`]) and time, still read only after the token.
pub(super) async fn require_token_for_bundle(
    State(admin): State<Arc<Admin>>,
    request: Request,
    next: Next,
) -> Response {
    let (limit, within) = (DEPLOY_BODY_LIMIT, DEPLOY_BODY_READ_TIMEOUT);
    guarded(&admin, request, next, limit, within).await
}

async fn guarded(
    admin: &Admin,
    request: Request,
    next: Next,
    limit: usize,
    within: std::time::Duration,
) -> Response {
    if !authorized(admin, request.headers()) {
        return refused();
    }
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limit);
    let bytes = match tokio::time::timeout(within, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            let why = format!("the body is over {limit} bytes (or was cut off)");
            return error(StatusCode::PAYLOAD_TOO_LARGE, why);
        }
        Err(_) => {
            let why = format!("the body did not arrive within {within:?}");
            return error(StatusCode::REQUEST_TIMEOUT, why);
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn error(code: StatusCode, why: String) -> Response {
    (code, Json(json!({"error": why}))).into_response()
}

fn refused() -> Response {
    let body = Json(
        json!({"error": "missing or wrong Authorization: Bearer token (see data/admin.token)"}),
    );
    let mut r = (StatusCode::UNAUTHORIZED, body).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

fn authorized(admin: &Admin, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    token::authorized(given, &admin.token)
}
