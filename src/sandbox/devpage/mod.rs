//! The dev page: every simulated member's view side by side in a browser.
//!
//! It replaces the tutorial's "several browser windows, one per person". The
//! page is one static HTML file with plain JS and CSS compiled into the
//! binary (no Node toolchain), served at `/` next to the platform WebSocket
//! (a request that asks for an upgrade still gets the WebSocket), with the
//! current state embedded (`initial.rs`) so the first paint shows the
//! columns without waiting for any request. It drives
//! the sandbox only through the public control API, so what it shows is what
//! tests see; this module adds the few read-only endpoints it needs: the list
//! of simulated users, the attached host's script status, and a server-sent
//! event stream (`events`) so the page updates without polling.

mod events;
mod initial;

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::control::SandboxControl;
use super::shared::Shared;
use super::ws;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const RENDER_JS: &str = include_str!("render.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Scripts and styles only from this origin; images from anywhere, since
/// services may show avatars and canvas images by URL.
const CSP: &str = "default-src 'self'; img-src * data: blob:; media-src *; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(root))
        .route("/sandbox/page/app.js", get(app_js))
        .route("/sandbox/page/render.js", get(render_js))
        .route("/sandbox/page/style.css", get(style_css))
        .route("/sandbox/events", get(events::stream))
        .route("/sandbox/status", get(status))
        .route("/sandbox/users", get(users))
        .route("/sandbox/spell", axum::routing::post(spell))
}

/// `GET /`: the platform WebSocket for clients that ask to upgrade (the
/// Python SDK dials the bare host), the page for everyone else.
async fn root(
    State(shared): State<Arc<Shared>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => ws::upgrade(State(shared), upgrade).await,
        Err(_) => {
            let page = initial::page(INDEX_HTML, &SandboxControl::new(shared));
            asset("text/html; charset=utf-8", page)
        }
    }
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn render_js() -> Response {
    asset("text/javascript; charset=utf-8", RENDER_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// The assets change with the binary only, but a developer who rebuilds
/// should not see a stale page (nor the page a stale state): no caching.
fn asset(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (CONTENT_SECURITY_POLICY, CSP),
        ],
        body.into(),
    )
        .into_response()
}

/// `GET /sandbox/status`: `{"status": …}`, the host's script status as it
/// last published it, or null when no host is attached (plain `sandbox`).
async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let status = SandboxControl::new(shared).script_status();
    Json(json!({ "status": status })).into_response()
}

/// `POST /sandbox/spell`: the JSON body to the attached host's `on_spell`;
/// `{"ok": value}`, or `{"error": why}` (422; 404 without a host).
async fn spell(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let hook = shared.spell.lock().ok().and_then(|h| h.clone());
    let Some(hook) = hook else {
        let why = "no host is attached (the spell box works under `moobius-host dev`)";
        return (StatusCode::NOT_FOUND, Json(json!({ "error": why }))).into_response();
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let why = format!("not JSON: {e}");
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response();
        }
    };
    match hook.cast(value).await {
        Ok(v) => Json(json!({ "ok": v })).into_response(),
        Err(why) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": why })),
        )
            .into_response(),
    }
}

/// `GET /sandbox/users`: `{"users": [{"character_id","name"}]}`, the
/// simulated users by name.
async fn users(State(shared): State<Arc<Shared>>) -> Response {
    let users = SandboxControl::new(shared).users();
    Json(json!({ "users": users })).into_response()
}
