//! `request(spec, "fn" [, context])`: HTTP(S) without stalling the script.
//!
//! The request runs off the script thread; the handler that made it returns
//! at once and other members' events go on being served. When the response
//! (or an error) arrives, the host calls `this.fn(response, context)` between
//! two events. Everything the script can get wrong about the spec is an error
//! here, at its line, naming the field.

use super::convert::{host_failed, script_error, to_json, Fallible};
use super::timers::callback_name;
use super::HostApi;
use crate::script::defs;
use rhai::{Dynamic, Engine, ImmutableString, Map};
use std::rc::Rc;
use std::time::Duration;

/// The methods `request` accepts.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// An HTTP request as a script described it (`Send`: it travels to a task).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// `None`: the configured default.
    pub timeout: Option<Duration>,
}

/// A request as a script starts it: what to send, and whom to call back
/// with what.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub request: HttpRequest,
    pub callback: String,
    pub context: Dynamic,
}

/// What a callback receives as `response` (made on the script thread).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpResponse {
    /// 0 when there was no response.
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    /// Why there is no (complete) response: timeout, refused, too large...
    pub error: Option<String>,
}

impl HttpResponse {
    pub fn failed(error: impl Into<String>) -> Self {
        HttpResponse {
            error: Some(error.into()),
            ..Default::default()
        }
    }

    /// `#{status, headers, text, json, error}`; `json` is the parsed body
    /// when it is JSON, else `()`.
    pub fn to_dynamic(&self) -> Dynamic {
        let mut m = Map::new();
        m.insert("status".into(), Dynamic::from(i64::from(self.status)));
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            headers.insert(k.as_str().into(), Dynamic::from(v.clone()));
        }
        m.insert("headers".into(), Dynamic::from_map(headers));
        m.insert("text".into(), Dynamic::from(self.text.clone()));
        let json = serde_json::from_str::<serde_json::Value>(&self.text)
            .ok()
            .map_or(Dynamic::UNIT, |v| super::convert::from_json(&v));
        m.insert("json".into(), json);
        let error = self.error.clone().map_or(Dynamic::UNIT, Dynamic::from);
        m.insert("error".into(), error);
        Dynamic::from_map(m)
    }
}

/// Whether `url` is an `http://` or `https://` URL, the scheme in any case
/// (schemes are case-insensitive: `HTTP://` is the same URL).
pub fn is_http_url(url: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    })
}

const FIELDS: &[&str] = &["method", "url", "headers", "body", "json", "timeout_ms"];

fn text_field(spec: &Map, key: &str) -> Fallible<Option<String>> {
    match spec.get(key) {
        None => Ok(None),
        Some(v) => match v.read_lock::<ImmutableString>() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(script_error(format!(
                "request: {key}: expected a string, got {}",
                v.type_name()
            ))),
        },
    }
}

/// Checks and converts the script's `#{method, url, headers, body, json,
/// timeout_ms}`.
pub fn parse_request(spec: &Map) -> Fallible<HttpRequest> {
    if let Some(k) = spec.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(script_error(format!(
            "request: {k}: unknown field (expected {})",
            FIELDS.join(", ")
        )));
    }
    let method = text_field(spec, "method")?
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(script_error(format!(
            "request: method: {method:?} is not one of {}",
            METHODS.join(", ")
        )));
    }
    let url = text_field(spec, "url")?.ok_or_else(|| script_error("request: url: missing"))?;
    if !is_http_url(&url) {
        return Err(script_error(format!(
            "request: url: {url:?} is not an http(s) URL"
        )));
    }
    let mut headers = Vec::new();
    if let Some(h) = spec.get("headers") {
        let map = h.read_lock::<Map>().ok_or_else(|| {
            script_error(format!(
                "request: headers: expected a map, got {}",
                h.type_name()
            ))
        })?;
        for (k, v) in map.iter() {
            let v = v
                .read_lock::<ImmutableString>()
                .ok_or_else(|| script_error(format!("request: headers.{k}: expected a string")))?;
            headers.push((k.to_string(), v.to_string()));
        }
    }
    let body = match (text_field(spec, "body")?, spec.get("json")) {
        (Some(_), Some(_)) => {
            return Err(script_error("request: give body or json, not both"));
        }
        (Some(text), None) => Some(text.into_bytes()),
        (None, Some(v)) => {
            let value = to_json(v, "request", "json")?;
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Some(value.to_string().into_bytes())
        }
        (None, None) => None,
    };
    let timeout = match spec.get("timeout_ms") {
        None => None,
        Some(v) => match v.as_int() {
            Ok(ms) if ms >= 1 => Some(Duration::from_millis(ms as u64)),
            _ => {
                return Err(script_error(format!(
                    "request: timeout_ms: expected a positive whole number of ms, got {v}"
                )))
            }
        },
    };
    Ok(HttpRequest {
        method,
        url,
        headers,
        body,
        timeout,
    })
}

fn start(h: &dyn HostApi, spec: &Map, f: &Dynamic, context: Dynamic) -> Fallible<i64> {
    let request = NewRequest {
        request: parse_request(spec)?,
        callback: callback_name(f, "request")?,
        context,
    };
    let id = h.start_request(request).map_err(host_failed)?;
    Ok(id as i64)
}

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    const SPEC: &str = "Starts an HTTP request without waiting: `spec` is `#{method, url, \
                        headers, body, json, timeout_ms}` (hosts limited by `http_allow`). \
                        Returns its id at once";
    let h = host.clone();
    defs::register_fn(
        engine,
        "request",
        ["spec", "callback"],
        &format!(
            "{SPEC}; `this.callback(response)` is called with `#{{status, headers, text, json, \
             error}}` when it ends."
        ),
        move |spec: Map, f: Dynamic| -> Fallible<i64> {
            start(h.as_ref(), &spec, &f, Dynamic::UNIT)
        },
    );
    let h = host.clone();
    defs::register_fn(
        engine,
        "request",
        ["spec", "callback", "context"],
        &format!(
            "{SPEC}; `this.callback(response, context)` is called with `#{{status, headers, \
             text, json, error}}` when it ends."
        ),
        move |spec: Map, f: Dynamic, context: Dynamic| -> Fallible<i64> {
            start(h.as_ref(), &spec, &f, context)
        },
    );
}
