//! The platform's REST API (docs/PROTOCOL.md 2) over reqwest + rustls.
//!
//! Every call reads the envelope, not the HTTP status, as the SDK does. The
//! access token lives here and is read at request time, so a refresh is seen
//! by the next call without anyone re-wiring anything. This file is the
//! transport (client, tokens, the authenticated call with its one re-sign-in);
//! `endpoints.rs` is one method per platform endpoint on top of it.

use super::relay::{CallRelay, RelayedCall};
use super::PlatformError;
use crate::config::Secret;
use crate::protocol::http::{AuthData, Envelope};
use crate::timeouts::PLATFORM_REQUEST;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, RwLock};

/// The SDK's default avatar when none is given.
pub const DEFAULT_AVATAR: &str = "https://gbaaibuild0.s3.us-west-1.amazonaws.com/LogoLight.jpg";

/// Requests in flight at once. The outbox prepares up to 64 events at a
/// time, and at start-up (or after a join) each one may need a new group,
/// so without a limit 100+ requests start together; over HTTP/1.1 each is a
/// connection of its own, with ~25 KB of buffers and queues, all kept open
/// in the idle pool afterwards: that was 3.7 MB of a 5 MB idle heap. 32 keep
/// a distant platform (tens of ms per request) creating a 1,000-member
/// channel's views at a useful pace; a local one needs far fewer.
const MAX_IN_FLIGHT: usize = 32;
/// Idle connections kept between bursts: as many as may be in flight. With
/// fewer, every request that ended while more were idle closed its
/// connection and the next one opened a new one (a TCP handshake, and a TLS
/// one to a real platform): that churn was a fifth of the time of a
/// 1,000-member channel's first join, which creates 1,001 groups (W3: 135-151
/// ms with 8 against 115-124 ms with 32, bench/RESULTS.md). Kept 90 s at
/// most (the client's default); at idle they cost about 0.3 MiB.
const MAX_IDLE: usize = MAX_IN_FLIGHT;

#[derive(Default)]
struct Tokens {
    access: Secret,
    refresh: Secret,
}

pub struct HttpApi {
    client: reqwest::Client,
    base: String,
    email: String,
    password: Secret,
    tokens: RwLock<Tokens>,
    /// Permits for [`MAX_IN_FLIGHT`].
    in_flight: tokio::sync::Semaphore,
    /// Where authenticated calls go instead, while set (a cluster node
    /// that is not the gateway).
    relay: RwLock<Option<Arc<dyn CallRelay>>>,
}

impl HttpApi {
    pub fn new(base: &str, email: &str, password: Secret) -> Result<Self, PlatformError> {
        super::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(PLATFORM_REQUEST)
            // The default keeps every connection a burst opened.
            .pool_max_idle_per_host(MAX_IDLE)
            .build()
            .map_err(|e| PlatformError::Transport {
                what: "HTTP client".into(),
                source: e,
            })?;
        Ok(HttpApi {
            client,
            base: base.trim_end_matches('/').to_string(),
            email: email.to_string(),
            password,
            tokens: RwLock::new(Tokens::default()),
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
            relay: RwLock::new(None),
        })
    }

    /// Sends authenticated calls to `relay` from now on (`None`: make them
    /// here, with this process's own sign-in).
    pub fn set_relay(&self, relay: Option<Arc<dyn CallRelay>>) {
        if let Ok(mut r) = self.relay.write() {
            *r = relay;
        }
    }

    fn relay(&self) -> Option<Arc<dyn CallRelay>> {
        self.relay.read().ok().and_then(|r| r.clone())
    }

    /// Makes a call another node relayed here, with this process's token.
    pub async fn call_relayed(&self, call: RelayedCall) -> Result<Value, PlatformError> {
        let method =
            Method::from_bytes(call.method.as_bytes()).map_err(|_| PlatformError::BadResponse {
                what: call.what(),
                reason: "not an HTTP method".into(),
            })?;
        let query: Vec<(&str, &str)> = call
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.call(method, &call.path, &query, call.body.as_ref())
            .await
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The current access token (for the WebSocket login).
    pub fn access_token(&self) -> Secret {
        self.tokens
            .read()
            .map(|t| t.access.clone())
            .unwrap_or_default()
    }

    /// One call with the access token (relayed to the gateway while a
    /// relay is set); a rejected token is renewed by signing in again, and
    /// the call is made once more. Signing in itself is `call_once` with
    /// [`Auth::Credentials`].
    async fn call<B: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Value, PlatformError> {
        if let Some(relay) = self.relay() {
            let relayed = RelayedCall {
                method: method.to_string(),
                path: path.to_string(),
                query: query
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: body.map(serde_json::to_value).transpose().map_err(|e| {
                    PlatformError::BadResponse {
                        what: format!("{method} {path}"),
                        reason: e.to_string(),
                    }
                })?,
            };
            return relay.call(relayed).await;
        }
        let call = ApiCall {
            method,
            path,
            query,
            body,
            auth: Auth::Token,
        };
        match self.call_once(&call).await {
            Err(PlatformError::Unauthorized { .. }) => {
                tracing::warn!(%path, "the platform rejected the access token; signing in again");
                self.sign_in().await?;
                self.call_once(&call).await
            }
            other => other,
        }
    }

    async fn call_once<B: serde::Serialize + ?Sized>(
        &self,
        call: &ApiCall<'_, B>,
    ) -> Result<Value, PlatformError> {
        let ApiCall {
            method,
            path,
            query,
            body,
            auth,
        } = call;
        let (method, auth) = (method.clone(), *auth);
        let what = format!("{method} {path}");
        // Held until the response is read (the semaphore is never closed).
        let _permit = self.in_flight.acquire().await.ok();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if !query.is_empty() {
            req = req.query(query);
        }
        if auth == Auth::Token {
            req = req
                .header(
                    "Authorization",
                    format!("Bearer {}", self.access_token().expose()),
                )
                .header("Auth-Origin", "cognito");
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let transport = |e: reqwest::Error| PlatformError::Transport {
            what: what.clone(),
            source: e.without_url(),
        };
        let resp = req.send().await.map_err(transport)?;
        let text = resp.text().await.map_err(transport)?;
        let envelope: Envelope =
            serde_json::from_str(&text).map_err(|e| PlatformError::BadResponse {
                what: what.clone(),
                reason: format!("not a JSON envelope ({e})"),
            })?;
        if !envelope.is_success() {
            tracing::debug!(%what, code = ?envelope.code, "platform refused");
            let detail = envelope.failure_text();
            return Err(if envelope.is_unauthorized() {
                PlatformError::Unauthorized { what, detail }
            } else {
                PlatformError::Rejected { what, detail }
            });
        }
        tracing::trace!(%what, "ok");
        Ok(envelope.data.unwrap_or(Value::Null))
    }

    fn parse<T: serde::de::DeserializeOwned>(what: &str, data: Value) -> Result<T, PlatformError> {
        serde_json::from_value(data).map_err(|e| PlatformError::BadResponse {
            what: what.to_string(),
            reason: e.to_string(),
        })
    }

    /// `POST /auth/sign_in`: replaces both tokens.
    pub async fn sign_in(&self) -> Result<(), PlatformError> {
        counted("sign_in", self.sign_in_once().await)
    }

    async fn sign_in_once(&self) -> Result<(), PlatformError> {
        let body = json!({"username": self.email, "password": self.password.expose()});
        let data = self
            .call_once(&ApiCall::unauthenticated_post("/auth/sign_in", &body))
            .await?;
        let auth: AuthData = Self::parse("POST /auth/sign_in", data)?;
        let result = auth.authentication_result;
        if let Ok(mut t) = self.tokens.write() {
            t.access = Secret::new(result.access_token);
            t.refresh = Secret::new(result.refresh_token.unwrap_or_default());
        }
        Ok(())
    }

    /// `POST /auth/refresh`: replaces the access token only (the SDK keeps the
    /// refresh token until the next full sign-in).
    pub async fn refresh(&self) -> Result<(), PlatformError> {
        counted("refresh", self.refresh_once().await)
    }

    async fn refresh_once(&self) -> Result<(), PlatformError> {
        let refresh = self
            .tokens
            .read()
            .map(|t| t.refresh.clone())
            .unwrap_or_default();
        let body = json!({"username": self.email, "refresh_token": refresh.expose()});
        let data = self
            .call_once(&ApiCall::unauthenticated_post("/auth/refresh", &body))
            .await?;
        let auth: AuthData = Self::parse("POST /auth/refresh", data)?;
        if let Ok(mut t) = self.tokens.write() {
            t.access = Secret::new(auth.authentication_result.access_token);
        }
        Ok(())
    }

    /// An authenticated GET whose `data` is parsed into `T`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, PlatformError> {
        let data = self.call(Method::GET, path, query, None::<&Value>).await?;
        Self::parse(&format!("GET {path}"), data)
    }
}

mod endpoints;

/// Counts a token renewal (`kind`: `sign_in`, `refresh`) by outcome.
fn counted(kind: &'static str, result: Result<(), PlatformError>) -> Result<(), PlatformError> {
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    metrics::counter!(crate::metrics::TOKEN_RENEWALS, "kind" => kind, "outcome" => outcome)
        .increment(1);
    result
}

/// One call to the platform's HTTP API, as `call` makes it (perhaps twice).
struct ApiCall<'a, B: ?Sized> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: Option<&'a B>,
    auth: Auth,
}

/// How a call says who makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// The access token, in the headers (every call but the sign-ins).
    Token,
    /// The account's credentials, in the body (signing in, refreshing).
    Credentials,
}

impl<'a, B: ?Sized> ApiCall<'a, B> {
    /// The sign-in calls, which carry credentials instead of a token.
    fn unauthenticated_post(path: &'a str, body: &'a B) -> Self {
        ApiCall {
            method: Method::POST,
            path,
            query: &[],
            body: Some(body),
            auth: Auth::Credentials,
        }
    }
}
