//! Scripts' HTTP requests, run off the script thread.
//!
//! `request(...)` is checked on the script thread (the allow list, the
//! number in flight, the timeout cap) so that a mistake is an error at the
//! script's line; every redirect is checked against the same allow list by
//! the client, and `download` goes through the same check and client, so
//! neither is a way around `http_allow`. Bodies are read within their cap
//! and one byte budget shared by all (`response_body.rs`). The request
//! itself runs in a task, and its outcome comes
//! back to the script thread as a [`HostEvent::Response`], queued behind the
//! events already waiting, in completion order. Every request ends in exactly
//! one response (a timeout, a refused connection and a too-large body are
//! responses with an `error`), so a callback is never lost.
//!
//! Under `moobius-host test` a [`Responder`] answers instead of the network:
//! scenario tests never leave the machine.

use crate::config::{RedirectRefused, RequestPolicy};
use crate::host::callbacks::response_body::{read_body, BodyError, BodyHold, Budget};
use crate::host::events::HostEvent;
use crate::platform::PlatformError;
use crate::script::{HostCallError, HostResult, HttpRequest, HttpResponse};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Answers requests in place of the network (scenario tests).
pub trait Responder: Send + Sync + std::fmt::Debug {
    /// The canned response for this request; `None`: no test answer matches.
    fn respond(&self, request: &HttpRequest) -> Option<HttpResponse>;
    /// A request the script made, told when it starts (in the order its
    /// thread made them), for a test to look at what was sent.
    fn record(&self, _request: &HttpRequest) {}
}

/// Starts requests and reports their outcome to the script thread.
pub struct RequestRunner {
    client: Option<reqwest::Client>,
    policy: RequestPolicy,
    responder: Option<Arc<dyn Responder>>,
    events: crate::host::threads::intake::Intake,
    in_flight: Arc<AtomicUsize>,
    /// The bytes all bodies being read or waiting for their callback hold.
    budget: Budget,
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
        budget: Budget,
        responder: Option<Arc<dyn Responder>>,
        events: crate::host::threads::intake::Intake,
        rt: tokio::runtime::Handle,
    ) -> Self {
        // A client that cannot be built (no TLS roots...) makes every
        // request fail with the reason, instead of the host.
        let client = reqwest::Client::builder()
            .redirect(policy.redirects())
            .dns_resolver(Arc::new(
                crate::host::callbacks::resolver::ScriptResolver::new(policy.clone()),
            ))
            .build()
            .map_err(|e| tracing::error!(error = %e, "cannot build the HTTP client for request()"))
            .ok();
        RequestRunner {
            client,
            budget,
            policy,
            responder,
            events,
            in_flight: Arc::new(AtomicUsize::new(0)),
            rt,
        }
    }

    /// Checks `request` against the policy and starts it; the response
    /// arrives later as `HostEvent::Response { id, .. }`.
    pub fn start(&self, id: u64, mut request: HttpRequest) -> HostResult<()> {
        // Checked even where canned answers stand in for the network
        // (scenario tests): what `run` refuses, a test refuses too.
        self.allowed("request", &request.url)?;
        let timeout = request.timeout.unwrap_or(self.policy.default_timeout);
        if timeout > self.policy.max_timeout {
            return Err(HostCallError::Refused(format!(
                "request: timeout_ms: {} is more than service_config.request_timeout_max_ms ({})",
                timeout.as_millis(),
                self.policy.max_timeout.as_millis()
            )));
        }
        request.timeout = Some(timeout);
        let taken = self.in_flight.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!(crate::metrics::REQUESTS_IN_FLIGHT).set((taken + 1) as f64);
        let slot = Slot(self.in_flight.clone());
        if taken >= self.policy.max_in_flight {
            return Err(HostCallError::Refused(format!(
                "request: {} requests are already in flight (service_config.requests_in_flight)",
                self.policy.max_in_flight
            )));
        }
        if let Some(r) = &self.responder {
            r.record(&request);
        }
        let events = self.events.clone();
        let responder = self.responder.clone();
        let client = self.client.clone();
        let max_bytes = self.policy.max_body_bytes;
        let mut hold = self.budget.hold();
        self.rt.spawn(async move {
            let response = match (responder, client) {
                (Some(r), _) => r.respond(&request).unwrap_or_else(|| {
                    HttpResponse::failed(format!(
                        "no respond(...) in this test matches {} {} (scenario tests never reach the network)",
                        request.method, request.url
                    ))
                }),
                (None, Some(client)) => {
                    let fetching = fetch(&client, &request, max_bytes, &mut hold);
                    let fetched = tokio::time::timeout(timeout, fetching).await;
                    fetched.unwrap_or_else(|_| {
                        // The body read so far was dropped with `fetching`.
                        hold.release();
                        HttpResponse::failed(format!("timed out after {} ms", timeout.as_millis()))
                    })
                }
                (None, None) => HttpResponse::failed("the HTTP client could not be built"),
            };
            drop(slot);
            let _ = events.send(HostEvent::Response { id, response, hold });
        });
        Ok(())
    }

    /// `url` parsed, when `http_allow` lets `what` (`request`, `download`)
    /// reach it.
    fn allowed(&self, what: &str, url: &str) -> HostResult<reqwest::Url> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            HostCallError::Refused(format!("{what}: url: {url:?} is not a valid URL ({e})"))
        })?;
        self.policy
            .check(&parsed)
            .map_err(|refused| HostCallError::Refused(format!("{what}: {refused}")))?;
        Ok(parsed)
    }

    /// `GET url` for `download`, checked against `http_allow` here and at
    /// every redirect, at most `max` bytes, counted in the request budget
    /// until the returned hold is dropped (once the script has the bytes).
    pub fn download(
        &self,
        url: &str,
        max: u64,
    ) -> HostResult<impl std::future::Future<Output = Result<(Vec<u8>, BodyHold), PlatformError>>>
    {
        let url = self.allowed("download", url)?;
        let client = self.client.clone();
        let mut hold = self.budget.hold();
        Ok(async move {
            let failed = |detail: String| PlatformError::File(detail);
            let client =
                client.ok_or_else(|| failed("the HTTP client could not be built".into()))?;
            let mut resp = client
                .get(url)
                .send()
                .await
                .map_err(|e| failed(transport_error(&e)))?;
            if !resp.status().is_success() {
                return Err(failed(format!("HTTP {}", resp.status())));
            }
            let body = read_body(&mut resp, max, "the download limit", &mut hold)
                .await
                .map_err(|e| failed(body_error(e)))?;
            Ok((body, hold))
        })
    }
}

/// Sends the request and reads at most `max_bytes` of the body.
async fn fetch(
    client: &reqwest::Client,
    r: &HttpRequest,
    max_bytes: u64,
    hold: &mut BodyHold,
) -> HttpResponse {
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
        Err(e) => {
            return HttpResponse::failed(match redirect_refusal(&e) {
                Some(refused) => format!("request: {refused}"),
                None => transport_error(&e),
            })
        }
    };
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), v)
        })
        .collect();
    // The headers wait for the callback with the body: counted alike.
    let header_bytes = headers
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum();
    if let Err(e) = hold.grow(header_bytes) {
        return HttpResponse {
            status,
            ..HttpResponse::failed(e.to_string())
        };
    }
    let why = "service_config.request_max_bytes";
    let (text, error) = match read_body(&mut resp, max_bytes, why, hold).await {
        // Valid UTF-8 becomes the text without a copy.
        Ok(body) => (
            String::from_utf8(body)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            None,
        ),
        Err(e) => {
            // The part read is dropped here, not with the response.
            hold.keep_only(header_bytes);
            (String::new(), Some(body_error(e)))
        }
    };
    HttpResponse {
        status,
        headers,
        text,
        error,
    }
}

fn body_error(e: BodyError) -> String {
    match e {
        BodyError::Transport(e) => transport_error(&e),
        other => other.to_string(),
    }
}

/// reqwest's error, without the URL (it may carry credentials in its
/// query); a redirect `http_allow` refused is said as such.
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    if let Some(refused) = redirect_refusal(e) {
        return refused.to_string();
    }
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

/// The `http_allow` refusal of a redirect behind `e`, if that is what it is.
fn redirect_refusal(e: &reqwest::Error) -> Option<&RedirectRefused> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<RedirectRefused>() {
            return Some(refused);
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on 127.0.0.1:0 that answers every request with its headers
    /// and one byte of a 1000-byte body, then sends nothing more.
    async fn stalling() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = [0u8; 4096];
                    let _ = s.read(&mut head).await;
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nx";
                    let _ = s.write_all(answer).await;
                    // Held open until the client lets go.
                    let _ = s.read_to_end(&mut Vec::new()).await;
                });
            }
        });
        addr
    }

    /// A request that times out while its body is read gives its budget
    /// back at once, not when its callback runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_request_holds_no_budget() {
        crate::platform::ensure_crypto_provider();
        let addr = stalling().await;
        let policy = RequestPolicy {
            allow: Some(vec![addr.to_string()]),
            default_timeout: Duration::from_millis(200),
            ..RequestPolicy::default()
        };
        let budget = Budget::new(1 << 20);
        let (intake, mut rx) = crate::host::threads::intake::channel();
        let runner = RequestRunner::new(
            policy,
            budget.clone(),
            None,
            intake,
            tokio::runtime::Handle::current(),
        );
        let request = HttpRequest {
            method: "GET".into(),
            url: format!("http://{addr}/"),
            headers: Vec::new(),
            body: None,
            timeout: None,
        };
        runner.start(7, request).unwrap();
        let started = Instant::now();
        let event = loop {
            if let Some(event) = rx.try_recv() {
                break event;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no response");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let HostEvent::Response { id, response, hold } = event else {
            panic!("not a response");
        };
        assert_eq!(
            (id, response.error.as_deref()),
            (7, Some("timed out after 200 ms"))
        );
        // The callback has not run: the hold is still alive.
        assert_eq!(budget.held(), 0, "{hold:?}");
    }
}
