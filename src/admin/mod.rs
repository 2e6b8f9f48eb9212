//! The admin endpoint (`run --admin 127.0.0.1:PORT`): health and readiness
//! probes for a supervisor or a load balancer, Prometheus metrics, the
//! service's status, and spells.
//!
//! | route | auth | answers |
//! |---|---|---|
//! | `GET /healthz` | no | 200 when the script thread answers within [`HEALTH_BOUND`], else 503 |
//! | `GET /readyz` | no | 200 when connected, logged in, channels bound and a script loaded, else 503 |
//! | `GET /metrics` | token | the Prometheus text format |
//! | `GET /status` | token | script version and files, last reload, link state, channels with member counts |
//! | `POST /deploy`, `POST /deploy/rollback`, `GET /deploys` | token | a lone host's deploys (`deploy.rs`) |
//! | `POST /spell` | token | the JSON body goes to `on_spell(value)`; `{"ok": value}` or `{"error": why}`; 429 with `Retry-After` when the spell queue is full, 503 when not answered within `?wait_ms=N` (at most [`SPELL_BOUND`]) |
//!
//! Everything but the probes wants `Authorization: Bearer TOKEN` (see
//! `token.rs`), checked on the headers before any body is read
//! (`guard.rs`). The endpoint listens on loopback unless told otherwise,
//! since it can run code in the service (spells). Its connections are
//! served by its own accept loop (`serve.rs`) within the bounds of
//! `bounds.rs`: header and body read timeouts, a body cap and a connection
//! cap.

pub mod bounds;
mod deploy;
pub mod files;
mod guard;
mod serve;
pub mod token;

use crate::config::Secret;
use crate::host::{HostProbe, SpellError};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::timeouts::{HEALTH_BOUND, SPELL_BOUND};
/// The `Retry-After` (seconds) of a spell refused because the spell queue
/// is full: the queue holds a few seconds of ordinary spells.
const SPELL_RETRY_AFTER: &str = "1";

/// How long the caller of `POST /spell?wait_ms=N` waits: N ms, at most
/// [`SPELL_BOUND`] (the bound when absent or not a number).
fn spell_wait(query: Option<&str>) -> Duration {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("wait_ms="))
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(SPELL_BOUND, |ms| Duration::from_millis(ms).min(SPELL_BOUND))
}

struct Admin {
    probe: HostProbe,
    token: Secret,
    metrics: Option<PrometheusHandle>,
    /// A lone host's deploys (`None` for a cluster node).
    deployer: Option<crate::host::deploy::Deployer>,
}

/// Serves the endpoint on `listener` until the task is dropped or aborted.
pub fn spawn(
    listener: tokio::net::TcpListener,
    probe: HostProbe,
    token: Secret,
    metrics: Option<PrometheusHandle>,
    deployer: Option<crate::host::deploy::Deployer>,
) -> tokio::task::JoinHandle<()> {
    let state = Arc::new(Admin {
        probe,
        token,
        metrics,
        deployer,
    });
    // A bundle is larger than any other body: its own cap, still read
    // only after the token.
    let bundle = Router::new()
        .route("/deploy", post(deploy::deploy))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_token_for_bundle,
        ))
        .layer(DefaultBodyLimit::max(bounds::DEPLOY_BODY_LIMIT));
    let guarded = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/status", get(status))
        .route("/spell", post(spell))
        .route("/deploy/rollback", post(deploy::rollback))
        .route("/deploys", get(deploy::list))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_token,
        ));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(bounds::BODY_LIMIT))
        .merge(bundle)
        .with_state(state);
    tokio::spawn(serve::accept_loop(listener, app))
}

/// Whether `addr` may be listened on: loopback always, anything else only
/// when the operator said so.
pub fn allowed(addr: &SocketAddr, public: bool) -> Result<(), crate::Reason> {
    if addr.ip().is_loopback() || public {
        Ok(())
    } else {
        Err(format!(
            "the admin endpoint would listen on {addr}, which is not loopback; it can run spells, so say --admin-public (or \"admin_public\": true) if that is meant"
        ))
    }
}

async fn healthz(State(admin): State<Arc<Admin>>) -> Response {
    let started = std::time::Instant::now();
    match admin.probe.inspect(HEALTH_BOUND).await {
        Some(_) => {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            (StatusCode::OK, Json(json!({"status": "ok", "script_thread_ms": ms}))).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy", "reason": format!("the script thread did not answer within {HEALTH_BOUND:?}")})),
        )
            .into_response(),
    }
}

async fn readyz(State(admin): State<Arc<Admin>>) -> Response {
    let r = admin.probe.readiness();
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(r)).into_response()
}

async fn metrics_text(State(admin): State<Arc<Admin>>) -> Response {
    let Some(handle) = &admin.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are off\n").into_response();
    };
    let body = crate::metrics::render(handle);
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn status(State(admin): State<Arc<Admin>>) -> Response {
    let script = admin.probe.status();
    let readiness = admin.probe.readiness();
    let inspection = admin.probe.inspect(HEALTH_BOUND).await;
    let channels: Vec<Value> = inspection
        .as_ref()
        .map(|i| {
            i.members
                .iter()
                .map(|(c, n)| json!({"channel_id": c, "members": n}))
                .collect()
        })
        .unwrap_or_default();
    Json(json!({
        "script": {
            "version": script.version,
            "files": script.files,
            "loaded_at_ms": script.loaded_at_ms,
            "last_reload_ms": script.last_reload_ms,
            "reload_error": script.error,
            "timers_pending": script.timers_pending,
            "thread_versions": thread_versions(&admin.probe, &script),
        },
        "deploy": script.deploy,
        "link": readiness.link,
        "ready": readiness.ready,
        "cluster": script.cluster,
        "channels": channels,
        "script_thread_answered": inspection.is_some(),
    }))
    .into_response()
}

/// Each script thread's version (from the threads themselves once they run).
fn thread_versions(probe: &HostProbe, script: &crate::host::ScriptStatus) -> Value {
    let tags = probe
        .versions()
        .map_or_else(|| script.thread_versions.clone(), |v| v.tags());
    json!(tags)
}

async fn spell(
    State(admin): State<Arc<Admin>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let why = format!("the body is not JSON: {e}");
            return (StatusCode::BAD_REQUEST, Json(json!({"error": why}))).into_response();
        }
    };
    let within = spell_wait(query.as_deref());
    match admin.probe.spell(value, within).await {
        Ok(v) => Json(json!({"ok": v})).into_response(),
        Err(e @ SpellError::Busy(_)) => {
            let body = Json(json!({"error": e.to_string()}));
            let mut r = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
            r.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(SPELL_RETRY_AFTER),
            );
            r
        }
        Err(SpellError::Script(why)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": why})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}
