//! The platform's REST API (PROTOCOL.md section 2) over reqwest + rustls.
//!
//! Every call reads the envelope, not the HTTP status, as the SDK does. The
//! access token lives here and is read at request time, so a refresh is seen
//! by the next call without anyone re-wiring anything.

use super::PlatformError;
use crate::config::Secret;
use crate::protocol::http::{
    AuthData, CharacterContext, CharacterObject, Envelope, GroupEntry, NewGroup, ServiceEntry,
    UploadTarget,
};
use crate::protocol::IdList;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::RwLock;
use std::time::Duration;

/// The SDK's default avatar when none is given.
pub const DEFAULT_AVATAR: &str = "https://gbaaibuild0.s3.us-west-1.amazonaws.com/LogoLight.jpg";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests in flight at once. The outbox prepares up to 64 events at a
/// time, and at start-up (or after a join) each one may need a new group,
/// so without a limit 100+ requests start together; over HTTP/1.1 each is a
/// connection of its own, with ~25 KB of buffers and queues, all kept open
/// in the idle pool afterwards: that was 3.7 MB of a 5 MB idle heap. 32 keep
/// a distant platform (tens of ms per request) creating a 1,000-member
/// channel's views at a useful pace; a local one needs far fewer.
const MAX_IN_FLIGHT: usize = 32;
/// Idle connections kept between bursts.
const MAX_IDLE: usize = 8;

#[derive(Default)]
struct Tokens {
    access: Secret,
    refresh: Secret,
}

/// Whether a refusal means "your token is not (or no longer) valid".
fn is_auth_failure(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.starts_with("code 401")
        || d.contains("token")
        || d.contains("unauthor")
        || d.contains("expired")
}

pub struct HttpApi {
    client: reqwest::Client,
    base: String,
    email: String,
    password: Secret,
    tokens: RwLock<Tokens>,
    /// Permits for [`MAX_IN_FLIGHT`].
    in_flight: tokio::sync::Semaphore,
}

impl HttpApi {
    pub fn new(base: &str, email: &str, password: Secret) -> Result<Self, PlatformError> {
        super::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // The default keeps every connection a burst opened.
            .pool_max_idle_per_host(MAX_IDLE)
            .build()
            .map_err(|e| PlatformError::Transport {
                what: "HTTP client".into(),
                reason: e.to_string(),
            })?;
        Ok(HttpApi {
            client,
            base: base.trim_end_matches('/').to_string(),
            email: email.to_string(),
            password,
            tokens: RwLock::new(Tokens::default()),
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        })
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

    /// One authenticated call; a rejected token is renewed by signing in
    /// again, and the call is made once more.
    async fn call<B: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
        auth: bool,
    ) -> Result<Value, PlatformError> {
        match self
            .call_once(method.clone(), path, query, body, auth)
            .await
        {
            Err(PlatformError::Rejected { detail, .. }) if auth && is_auth_failure(&detail) => {
                tracing::warn!(%path, "the platform rejected the access token; signing in again");
                self.sign_in().await?;
                self.call_once(method, path, query, body, auth).await
            }
            other => other,
        }
    }

    async fn call_once<B: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
        auth: bool,
    ) -> Result<Value, PlatformError> {
        let what = format!("{method} {path}");
        // Held until the response is read (the semaphore is never closed).
        let _permit = self.in_flight.acquire().await.ok();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if !query.is_empty() {
            req = req.query(query);
        }
        if auth {
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
        let resp = req.send().await.map_err(|e| PlatformError::Transport {
            what: what.clone(),
            reason: e.without_url().to_string(),
        })?;
        let text = resp.text().await.map_err(|e| PlatformError::Transport {
            what: what.clone(),
            reason: e.without_url().to_string(),
        })?;
        let envelope: Envelope =
            serde_json::from_str(&text).map_err(|e| PlatformError::BadResponse {
                what: what.clone(),
                reason: format!("not a JSON envelope ({e})"),
            })?;
        if !envelope.is_success() {
            tracing::debug!(%what, code = ?envelope.code, "platform refused");
            return Err(PlatformError::Rejected {
                what,
                detail: envelope.failure_text(),
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
        let body = json!({"username": self.email, "password": self.password.expose()});
        let data = self
            .call_once(Method::POST, "/auth/sign_in", &[], Some(&body), false)
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
        let refresh = self
            .tokens
            .read()
            .map(|t| t.refresh.clone())
            .unwrap_or_default();
        let body = json!({"username": self.email, "refresh_token": refresh.expose()});
        let data = self
            .call_once(Method::POST, "/auth/refresh", &[], Some(&body), false)
            .await?;
        let auth: AuthData = Self::parse("POST /auth/refresh", data)?;
        if let Ok(mut t) = self.tokens.write() {
            t.access = Secret::new(auth.authentication_result.access_token);
        }
        Ok(())
    }

    pub async fn create_service(&self, description: &str) -> Result<String, PlatformError> {
        let data = self
            .call(
                Method::POST,
                "/service/create",
                &[],
                Some(&json!({"description": description})),
                true,
            )
            .await?;
        data.get("service_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PlatformError::BadResponse {
                what: "POST /service/create".into(),
                reason: "no data.service_id".into(),
            })
    }

    /// An authenticated GET whose `data` is parsed into `T`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, PlatformError> {
        let data = self
            .call(Method::GET, path, query, None::<&Value>, true)
            .await?;
        Self::parse(&format!("GET {path}"), data)
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceEntry>, PlatformError> {
        self.get("/service/list", &[]).await
    }

    /// `POST /service/bind`; like the SDK, a refusal is a `false`, not an error.
    pub async fn bind(&self, channel_id: &str, service_id: &str) -> Result<bool, PlatformError> {
        let body = json!({"channel_id": channel_id, "service_id": service_id});
        match self
            .call(Method::POST, "/service/bind", &[], Some(&body), true)
            .await
        {
            Ok(_) => Ok(true),
            Err(PlatformError::Rejected { detail, .. }) => {
                tracing::warn!(channel_id, %detail, "binding the channel was refused");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub async fn unbind(&self, channel_id: &str, service_id: &str) -> Result<(), PlatformError> {
        let body = json!({"channel_id": channel_id, "service_id": service_id});
        self.call(Method::POST, "/service/unbind", &[], Some(&body), true)
            .await
            .map(drop)
    }

    /// `GET /channel/character_list`: the channel's members (ground truth).
    pub async fn channel_members(
        &self,
        channel_id: &str,
        service_id: &str,
    ) -> Result<Vec<String>, PlatformError> {
        let what = "GET /channel/character_list";
        let data = self
            .call(
                Method::GET,
                "/channel/character_list",
                &[("channel_id", channel_id), ("service_id", service_id)],
                None::<&Value>,
                true,
            )
            .await?;
        let list = data.get("character_list").cloned().unwrap_or(Value::Null);
        Self::parse(what, list)
    }

    pub async fn fetch_profiles(
        &self,
        ids: &[String],
    ) -> Result<Vec<CharacterObject>, PlatformError> {
        let data = self
            .call(
                Method::POST,
                "/character/fetch_profile",
                &[],
                Some(&json!({"character_list": ids})),
                true,
            )
            .await?;
        Self::parse("POST /character/fetch_profile", data)
    }

    pub async fn service_agents(
        &self,
        service_id: &str,
    ) -> Result<Vec<CharacterObject>, PlatformError> {
        self.get("/service/character/list", &[("service_id", service_id)])
            .await
    }

    pub async fn create_agent(
        &self,
        service_id: &str,
        context: &CharacterContext,
    ) -> Result<CharacterObject, PlatformError> {
        let body = json!({"service_id": service_id, "context": context});
        let data = self
            .call(
                Method::POST,
                "/service/character/create",
                &[],
                Some(&body),
                true,
            )
            .await?;
        Self::parse("POST /service/character/create", data)
    }

    /// `POST /service/group/create`: `data` itself is the new group id.
    pub async fn create_service_group(&self, ids: &IdList) -> Result<String, PlatformError> {
        let body = NewGroup {
            group_id: "",
            characters: ids,
        };
        let data = self
            .call(
                Method::POST,
                "/service/group/create",
                &[],
                Some(&body),
                true,
            )
            .await?;
        match data {
            Value::String(id) => Ok(id),
            other => Err(PlatformError::BadResponse {
                what: "POST /service/group/create".into(),
                reason: format!("expected a group id string, got {other}"),
            }),
        }
    }

    pub async fn user_group_list(
        &self,
        channel_id: &str,
        service_id: &str,
    ) -> Result<Vec<GroupEntry>, PlatformError> {
        let data = self
            .call(
                Method::GET,
                "/user/group/list",
                &[("channel_id", channel_id), ("service_id", service_id)],
                None::<&Value>,
                true,
            )
            .await?;
        if data.is_null() {
            return Ok(Vec::new());
        }
        Self::parse("GET /user/group/list", data)
    }

    /// `GET /user/group`: the ids behind a group id the platform sent.
    pub async fn group_members(
        &self,
        group_id: &str,
        channel_id: &str,
        user_id: &str,
    ) -> Result<Vec<String>, PlatformError> {
        let data = self
            .call(
                Method::GET,
                "/user/group",
                &[
                    ("group_id", group_id),
                    ("channel_id", channel_id),
                    ("user_id", user_id),
                ],
                None::<&Value>,
                true,
            )
            .await?;
        match data.get("characters") {
            Some(list) => Self::parse("GET /user/group", list.clone()),
            None => Ok(Vec::new()),
        }
    }

    pub async fn update_agent(
        &self,
        service_id: &str,
        character_id: &str,
        context: &CharacterContext,
    ) -> Result<Value, PlatformError> {
        let body =
            json!({"service_id": service_id, "character_id": character_id, "context": context});
        self.call(
            Method::POST,
            "/service/character/update",
            &[],
            Some(&body),
            true,
        )
        .await
    }

    pub async fn channel_list(&self) -> Result<Value, PlatformError> {
        self.call(Method::GET, "/channel/list", &[], None::<&Value>, true)
            .await
    }

    /// `POST /channel/create`: the new channel's id.
    pub async fn create_channel(
        &self,
        name: &str,
        description: &str,
    ) -> Result<String, PlatformError> {
        let body = json!({"channel_name": name, "context": {"channel_description": description}});
        let data = self
            .call(Method::POST, "/channel/create", &[], Some(&body), true)
            .await?;
        data.get("channel_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PlatformError::BadResponse {
                what: "POST /channel/create".into(),
                reason: "no data.channel_id".into(),
            })
    }

    /// `GET /channel/history_message` (a GET with a JSON body, as the SDK sends it).
    pub async fn message_history(
        &self,
        channel_id: &str,
        limit: i64,
    ) -> Result<Value, PlatformError> {
        let limit = limit.to_string();
        let body = json!({"limit": limit});
        self.call(
            Method::GET,
            "/channel/history_message",
            &[
                ("channel_id", channel_id),
                ("limit", &limit),
                ("before", "null"),
            ],
            Some(&body),
            true,
        )
        .await
    }

    /// `HEAD url` without auth: the size of a file the platform serves.
    pub async fn content_length(&self, url: &str) -> Option<u64> {
        let resp = self.client.head(url).send().await.ok()?;
        resp.headers()
            .get(reqwest::header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// `GET url` without auth, refusing bodies over `max` bytes.
    pub async fn download(&self, url: &str, max: u64) -> Result<Vec<u8>, PlatformError> {
        let what = "download".to_string();
        let transport = |e: reqwest::Error| PlatformError::Transport {
            what: what.clone(),
            reason: e.without_url().to_string(),
        };
        let mut resp = self.client.get(url).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(PlatformError::Rejected {
                what: what.clone(),
                detail: format!("HTTP {}", resp.status()),
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Err(PlatformError::File(format!(
                    "download: larger than {max} bytes"
                )));
            }
        }
        Ok(bytes)
    }

    pub async fn upload_target(&self, extension: &str) -> Result<UploadTarget, PlatformError> {
        self.get("/file/upload", &[("extension", extension)]).await
    }
}
