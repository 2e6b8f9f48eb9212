//! Scripts' HTTP requests, run off the script thread.
//!
//! `request(...)` is checked on the script thread (the allow list, the
//! number in flight, the timeout cap) so that a mistake is an error at the
//! script's line; the request itself runs in a task, and its outcome comes
//! back to the script thread as a [`HostEvent::Response`], queued behind the
//! events already waiting, in completion order. Every request ends in exactly
//! one response (a timeout, a refused connection and a too-large body are
//! responses with an `error`), so a callback is never lost.
//!
//! Under `moobius-host test` a [`Responder`] answers instead of the network:
//! scenario tests never leave the machine.

use super::events::HostEvent;
use crate::config::RequestPolicy;
use crate::script::{HttpRequest, HttpResponse};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Answers requests in place of the network (scenario tests).
pub trait Responder: Send + Sync + std::fmt::Debug {
    /// The canned response for this request; `None`: no test answer matches.
    fn respond(&self, request: &HttpRequest) -> Option<HttpResponse>;
}

/// Starts requests and reports their outcome to the script thread.
pub struct RequestRunner {
    client: Option<reqwest::Client>,
    policy: RequestPolicy,
    responder: Option<Arc<dyn Responder>>,
    events: super::intake::Intake,
    in_flight: Arc<AtomicUsize>,
    rt: tokio::runtime::Handle,
}

/// Gives the in-flight slot back however the task ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        let before = self.0.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!(crate::metrics::REQUESTS_IN_FLIGHT).set(before.saturating_sub(1) as f64);
    }
}

impl RequestRunner {
    pub fn new(
        policy: RequestPolicy,
        responder: Option<Arc<dyn Responder>>,
        events: super::intake::Intake,
        rt: tokio::runtime::Handle,
    ) -> Self {
        // A client that cannot be built (no TLS roots...) makes every
        // request fail with the reason, instead of the host.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| tracing::error!(error = %e, "cannot build the HTTP client for request()"))
            .ok();
        RequestRunner {
            client,
            policy,
            responder,
            events,
            in_flight: Arc::new(AtomicUsize::new(0)),
            rt,
        }
    }

    /// Checks `request` against the policy and starts it; the response
    /// arrives later as `HostEvent::Response { id, .. }`.
    pub fn start(&self, id: u64, mut request: HttpRequest) -> Result<(), String> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| format!("request: url: {:?} is not a valid URL ({e})", request.url))?;
        let host = url.host_str().unwrap_or_default();
        if !self.policy.allows(host, url.port()) {
            return Err(format!(
                "request: {host} is not in service_config.http_allow"
            ));
        }
        let timeout = request.timeout.unwrap_or(self.policy.default_timeout);
        if timeout > self.policy.max_timeout {
            return Err(format!(
                "request: timeout_ms: {} is more than service_config.request_timeout_max_ms ({})",
                timeout.as_millis(),
                self.policy.max_timeout.as_millis()
            ));
        }
        request.timeout = Some(timeout);
        let taken = self.in_flight.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!(crate::metrics::REQUESTS_IN_FLIGHT).set((taken + 1) as f64);
        let slot = Slot(self.in_flight.clone());
        if taken >= self.policy.max_in_flight {
            return Err(format!(
                "request: {} requests are already in flight (service_config.requests_in_flight)",
                self.policy.max_in_flight
            ));
        }
        let events = self.events.clone();
        let responder = self.responder.clone();
        let client = self.client.clone();
        let max_bytes = self.policy.max_body_bytes;
        self.rt.spawn(async move {
            let response = match (responder, client) {
                (Some(r), _) => r.respond(&request).unwrap_or_else(|| {
                    HttpResponse::failed(format!(
                        "no respond(...) in this test matches {} {} (scenario tests never reach the network)",
                        request.method, request.url
                    ))
                }),
                (None, Some(client)) => {
                    match tokio::time::timeout(timeout, fetch(&client, &request, max_bytes)).await {
                        Ok(r) => r,
                        Err(_) => HttpResponse::failed(format!(
                            "timed out after {} ms",
                            timeout.as_millis()
                        )),
                    }
                }
                (None, None) => HttpResponse::failed("the HTTP client could not be built"),
            };
            drop(slot);
            let _ = events.send(HostEvent::Response { id, response });
        });
        Ok(())
    }
}

/// Sends the request and reads at most `max_bytes` of the body.
async fn fetch(client: &reqwest::Client, r: &HttpRequest, max_bytes: u64) -> HttpResponse {
    let Ok(method) = reqwest::Method::from_bytes(r.method.as_bytes()) else {
        return HttpResponse::failed(format!("unknown method {}", r.method));
    };
    let mut builder = client.request(method, &r.url);
    for (k, v) in &r.headers {
        builder = builder.header(k, v);
    }
    if let Some(body) = &r.body {
        builder = builder.body(body.clone());
    }
    let mut resp = match builder.send().await {
        Ok(resp) => resp,
        Err(e) => return HttpResponse::failed(transport_error(&e)),
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), v)
        })
        .collect();
    let mut body = Vec::new();
    let mut error = None;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if (body.len() + chunk.len()) as u64 > max_bytes {
                    error = Some(format!(
                        "the response body is larger than service_config.request_max_bytes ({max_bytes})"
                    ));
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(transport_error(&e));
                break;
            }
        }
    }
    HttpResponse {
        status,
        headers,
        text: String::from_utf8_lossy(&body).into_owned(),
        error,
    }
}

/// reqwest's error, without the URL (it may carry credentials in its query).
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}
