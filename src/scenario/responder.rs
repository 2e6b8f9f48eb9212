//! `respond(url, answer)`: canned answers to the service's `request(...)`
//! calls, so scenario tests never touch the network; and `requests()`: what
//! those calls sent, so a test can check what was posted.
//!
//! A pattern is a whole URL, or a prefix ending in `*`. The latest matching
//! `respond` wins, so a test can change an answer half-way. A request that
//! nothing matches gets a response with an `error` saying so (its callback
//! still runs, as it would for a refused connection).

use crate::host::Responder;
use crate::script::{HttpRequest, HttpResponse};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The requests `requests()` shows: the last this many a test made.
pub const REQUESTS_KEPT: usize = 1000;

/// The answers of the running test, and the requests it made.
#[derive(Debug, Default)]
pub struct ScenarioResponder {
    answers: Mutex<Vec<(String, HttpResponse)>>,
    made: Mutex<VecDeque<HttpRequest>>,
}

impl ScenarioResponder {
    /// Adds an answer: `#{status, json, text, headers, error}` (all optional;
    /// status 200 by default, `json` is sent as the body).
    pub fn add(&self, pattern: &str, answer: &Value) -> Result<(), crate::Reason> {
        let response = response_of(answer)?;
        if let Ok(mut answers) = self.answers.lock() {
            answers.push((pattern.to_string(), response));
        }
        Ok(())
    }

    /// The requests made so far (the last [`REQUESTS_KEPT`]), oldest first.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.made
            .lock()
            .map(|made| made.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Responder for ScenarioResponder {
    fn record(&self, request: &HttpRequest) {
        if let Ok(mut made) = self.made.lock() {
            if made.len() >= REQUESTS_KEPT {
                made.pop_front();
            }
            made.push_back(request.clone());
        }
    }

    fn respond(&self, request: &HttpRequest) -> Option<HttpResponse> {
        let answers = self.answers.lock().ok()?;
        answers
            .iter()
            .rev()
            .find(|(pattern, _)| match pattern.strip_suffix('*') {
                Some(prefix) => request.url.starts_with(prefix),
                None => request.url == *pattern,
            })
            .map(|(_, r)| r.clone())
    }
}

const FIELDS: &[&str] = &["status", "json", "text", "headers", "error"];

fn response_of(answer: &Value) -> Result<HttpResponse, crate::Reason> {
    let Value::Object(map) = answer else {
        return Err(
            "respond: the answer must be a map (#{status, json, text, headers, error})".into(),
        );
    };
    if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "respond: {k}: unknown field (expected {})",
            FIELDS.join(", ")
        ));
    }
    let status = match map.get("status") {
        None => 200,
        Some(v) => v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("respond: status: {v} is not an HTTP status"))?,
    };
    let text = match (map.get("json"), map.get("text")) {
        (Some(_), Some(_)) => return Err("respond: give json or text, not both".into()),
        (Some(json), None) => json.to_string(),
        (None, Some(Value::String(t))) => t.clone(),
        (None, Some(v)) => return Err(format!("respond: text: {v} is not a string")),
        (None, None) => String::new(),
    };
    let mut headers = Vec::new();
    if let Some(Value::Object(h)) = map.get("headers") {
        for (k, v) in h {
            headers.push((k.clone(), v.as_str().unwrap_or_default().to_string()));
        }
    }
    if map.contains_key("json")
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let error = map.get("error").and_then(Value::as_str).map(str::to_string);
    Ok(HttpResponse {
        status: if error.is_some() { 0 } else { status },
        headers,
        text,
        error,
    })
}
