//! The admin endpoint's deploy routes (a lone host's; docs/DEPLOY.md):
//!
//! | route | answers |
//! |---|---|
//! | `POST /deploy?canary=PCT&window_ms=N` | body: the bundle's bytes (at most [`DEPLOY_BODY_LIMIT`]); the deploy's report as JSON: 200 promoted, 202 a canary started (it goes on by itself), 422 refused, vetoed or failed, 409 another deploy runs, 400 a bad query |
//! | `POST /deploy/rollback` | back to the version before the current one: the report, 200 or 422; during a canary, the canary rolled back (422, its report); 409 when there is nothing to go back to or another deploy runs |
//! | `GET /deploys` | `{"in_progress": ID or null, "deploys": [records, newest first]}` |
//!
//! All behind the token, checked before the body is read (`guard.rs`).
//!
//! [`DEPLOY_BODY_LIMIT`]: super::bounds::DEPLOY_BODY_LIMIT

use super::Admin;
use crate::host::deploy::{DeployError, DeployReport, DeployRequest, Deployer};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Answered when the host has no deployer (a cluster node).
fn no_deploys() -> Response {
    let why = "this host takes no deploys here: a cluster node's deploys go through the cluster";
    (StatusCode::NOT_IMPLEMENTED, Json(json!({"error": why}))).into_response()
}

fn deployer(admin: &Admin) -> Option<&Deployer> {
    admin.deployer.as_ref()
}

/// `canary=10` (or `10%`) and `window_ms=N` from the query.
fn request(query: Option<&str>) -> Result<DeployRequest, String> {
    let mut req = DeployRequest::default();
    for kv in query.into_iter().flat_map(|q| q.split('&')) {
        let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
        match key {
            "canary" => {
                let pct = value.trim_end_matches('%').trim_end_matches("%25");
                req.canary_pct = Some(
                    pct.parse()
                        .map_err(|_| format!("canary={value:?} is not a percentage (1 to 100)"))?,
                );
            }
            "window_ms" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| format!("window_ms={value:?} is not a number of ms"))?;
                req.window = Some(Duration::from_millis(ms));
            }
            "" => {}
            other => {
                return Err(format!(
                    "unknown query parameter {other:?} (canary, window_ms)"
                ))
            }
        }
    }
    Ok(req)
}

fn answer(result: Result<DeployReport, DeployError>) -> Response {
    match result {
        Ok(report) => {
            let code = match (report.record.outcome, report.state.as_str()) {
                (Some(crate::deploy::Outcome::Promoted), _) => StatusCode::OK,
                (None, _) => StatusCode::ACCEPTED,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            (code, Json(report)).into_response()
        }
        Err(e) => {
            let code = match &e {
                DeployError::Busy(_) | DeployError::NothingToRollBack(_) => StatusCode::CONFLICT,
                DeployError::BadRequest(_) => StatusCode::BAD_REQUEST,
                DeployError::NotRunning => StatusCode::SERVICE_UNAVAILABLE,
                DeployError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (code, Json(json!({"error": e.to_string()}))).into_response()
        }
    }
}

pub(super) async fn deploy(
    State(admin): State<Arc<Admin>>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let Some(d) = deployer(&admin) else {
        return no_deploys();
    };
    let req = match request(query.as_deref()) {
        Ok(r) => r,
        Err(why) => return answer(Err(DeployError::BadRequest(why))),
    };
    answer(d.deploy(body.to_vec(), req).await)
}

pub(super) async fn rollback(State(admin): State<Arc<Admin>>) -> Response {
    match deployer(&admin) {
        Some(d) => answer(d.rollback().await),
        None => no_deploys(),
    }
}

pub(super) async fn list(State(admin): State<Arc<Admin>>) -> Response {
    match deployer(&admin) {
        Some(d) => Json(json!({
            "in_progress": d.in_progress(),
            "deploys": d.history(),
        }))
        .into_response(),
        None => no_deploys(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_gives_the_canary_and_the_window() {
        let r = request(Some("canary=10%25&window_ms=2000")).unwrap();
        assert_eq!(r.canary_pct, Some(10));
        assert_eq!(r.window, Some(Duration::from_millis(2000)));
        assert_eq!(request(None).unwrap().canary_pct, None);
        assert!(request(Some("canary=ten")).is_err());
        assert!(request(Some("canry=10")).unwrap_err().contains("canary"));
    }
}
