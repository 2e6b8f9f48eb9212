//! One method per platform endpoint the host uses, on top of the transport
//! in `http.rs` (which signs in, retries once on a rejected token and reads
//! the envelope).

use super::HttpApi;
use crate::platform::PlatformError;
use crate::protocol::http::{
    CharacterContext, CharacterObject, GroupEntry, NewGroup, ServiceEntry, UploadTarget,
};
use crate::protocol::IdList;
use reqwest::Method;
use serde_json::{json, Value};

impl HttpApi {
    pub async fn create_service(&self, description: &str) -> Result<String, PlatformError> {
        let data = self
            .call(
                Method::POST,
                "/service/create",
                &[],
                Some(&json!({"description": description})),
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

    pub async fn list_services(&self) -> Result<Vec<ServiceEntry>, PlatformError> {
        self.get("/service/list", &[]).await
    }

    /// `POST /service/bind`; like the SDK, a refusal is a `false`, not an error.
    pub async fn bind(&self, channel_id: &str, service_id: &str) -> Result<bool, PlatformError> {
        let body = json!({"channel_id": channel_id, "service_id": service_id});
        match self
            .call(Method::POST, "/service/bind", &[], Some(&body))
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
        self.call(Method::POST, "/service/unbind", &[], Some(&body))
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
            .call(Method::POST, "/service/character/create", &[], Some(&body))
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
            .call(Method::POST, "/service/group/create", &[], Some(&body))
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
            )
            .await?;
        if data.is_null() {
            return Ok(Vec::new());
        }
        Self::parse("GET /user/group/list", data)
    }

    /// `GET /user/info`: the signed-in user's own id (user mode).
    pub async fn own_user_id(&self) -> Result<String, PlatformError> {
        let data = self
            .call(Method::GET, "/user/info", &[], None::<&Value>)
            .await?;
        data.get("user_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PlatformError::BadResponse {
                what: "GET /user/info".into(),
                reason: "no user_id".into(),
            })
    }

    /// `POST /user/group/create`: a group id for a user's recipients.
    pub async fn create_user_group(
        &self,
        channel_id: &str,
        ids: &IdList,
    ) -> Result<String, PlatformError> {
        let body = json!({"channel_id": channel_id, "group_name": "", "characters": ids});
        let data = self
            .call(Method::POST, "/user/group/create", &[], Some(&body))
            .await?;
        data.get("group_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PlatformError::BadResponse {
                what: "POST /user/group/create".into(),
                reason: "no group_id".into(),
            })
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
        self.call(Method::POST, "/service/character/update", &[], Some(&body))
            .await
    }

    pub async fn channel_list(&self) -> Result<Value, PlatformError> {
        self.call(Method::GET, "/channel/list", &[], None::<&Value>)
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
            .call(Method::POST, "/channel/create", &[], Some(&body))
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

    pub async fn upload_target(&self, extension: &str) -> Result<UploadTarget, PlatformError> {
        self.get("/file/upload", &[("extension", extension)]).await
    }
}
