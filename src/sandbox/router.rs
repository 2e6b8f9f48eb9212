//! One router for everything on a listener: platform API, WebSocket, files
//! and control API, behind a layer that normalises paths and counts requests.
//!
//! The SDK rewrites every `//` in its URLs and some callers add trailing
//! slashes, so paths are canonicalised (doubled and trailing slashes removed)
//! before routing. Each listener gets its own router so handlers know the
//! base URL the request came in on (for upload URLs).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use super::shared::Shared;
use super::{control, devpage, files, platform_api, ws};

/// Base URL (with trailing `/`) of the listener serving a request.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

/// The complete application for one listener.
pub fn build(shared: Arc<Shared>, base: String) -> Router {
    let inner = Router::new()
        .merge(platform_api::routes())
        .merge(files::routes())
        .merge(control::api::routes())
        .merge(devpage::routes())
        .route("/ws", get(ws::upgrade))
        .fallback(fallback)
        .layer(Extension(BaseUrl(base)))
        .with_state(shared.clone());
    Router::new()
        .fallback_service(inner)
        .layer(middleware::from_fn_with_state(shared, normalize))
}

/// `/a//b/` -> `/a/b`; `/` stays `/`.
pub fn canonical_path(path: &str) -> String {
    let joined: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", joined.join("/"))
}

async fn normalize(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = canonical_path(req.uri().path());
    shared
        .world()
        .state
        .count_request(req.method().as_str(), &path);
    if !path.starts_with("/sandbox") && path != "/ws" && path != "/" {
        if let Some(delay) = shared.faults.delay() {
            tokio::time::sleep(delay).await;
        }
        if shared.faults.fail_http() {
            return platform_api::envelope(50000, "injected fault: internal error", Value::Null);
        }
    }
    if path != req.uri().path() {
        let target = match req.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        match target.parse() {
            Ok(path_and_query) => {
                parts.path_and_query = Some(path_and_query);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
            Err(err) => tracing::debug!(%err, "could not rewrite the request path"),
        }
    }
    next.run(req).await
}

async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    if path.starts_with("/sandbox") {
        let body = json!({"error": format!("no control endpoint {path}")});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    platform_api::envelope(40004, &format!("unknown endpoint {path}"), Value::Null)
}

/// Parses `a=1&b=x%20y` leniently: no error, `+` is a space, bad escapes are
/// kept as they are, a key without `=` has an empty value.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// A query component decoded as a form does: `+` is a space, `%XX` a byte
/// (anything not a valid escape is kept as it is).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_canonical() {
        assert_eq!(canonical_path("//service//list/"), "/service/list");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("/files/"), "/files");
    }

    #[test]
    fn queries_parse_leniently() {
        let parsed = parse_query("a=1&b=x%20y+z&c&d=%zz&");
        assert_eq!(
            parsed,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), String::new()),
                ("d".into(), "%zz".into()),
            ]
        );
    }
}
