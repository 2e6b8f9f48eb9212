//! HTTP response shapes: the envelope every endpoint answers with, and the
//! character object used by the profile, agent-list and agent-create calls.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::IdList;

/// Success codes of the envelope. The HTTP status is ignored by the SDK and by us.
pub const CODE_OK: i64 = 10000;
pub const CODE_NO_CONTENT: i64 = 204;

/// `{"code": 10000, "message": "ok", "data": ...}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Envelope {
    #[serde(default)]
    pub code: Option<Value>,
    #[serde(default)]
    pub message: Option<Value>,
    #[serde(default)]
    pub data: Option<Value>,
}

impl Envelope {
    /// The code as an integer, when it is one (a string "10000" counts too).
    pub fn code(&self) -> Option<i64> {
        match self.code.as_ref()? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self.code(), Some(CODE_OK) | Some(CODE_NO_CONTENT))
    }

    /// Whether a failure means "your token (or password) is not valid". The
    /// platform says so in more than one way: code 40001 (docs/PROTOCOL.md
    /// 2.3), a code starting with 401, or a message about the token; this is
    /// the one place that reads them, so callers match on a typed error.
    pub fn is_unauthorized(&self) -> bool {
        let message = match &self.message {
            Some(Value::String(s)) => s.to_ascii_lowercase(),
            _ => String::new(),
        };
        self.code() == Some(40_001)
            || self
                .code()
                .is_some_and(|c| c.to_string().starts_with("401"))
            || ["token", "unauthor", "expired"]
                .iter()
                .any(|w| message.contains(w))
    }

    /// A short description of a failure, for error messages.
    pub fn failure_text(&self) -> String {
        let code = self
            .code
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into());
        let message = match &self.message {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        format!("code {code}: {message}")
    }
}

/// The profile part of a character object.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct CharacterContext {
    pub name: String,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `{"character_id": "...", "character_context": {"name", "avatar", "description"}}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CharacterObject {
    pub character_id: String,
    pub character_context: CharacterContext,
}

/// `data.AuthenticationResult` of sign-in and refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthenticationResult {
    #[serde(rename = "AccessToken")]
    pub access_token: String,
    #[serde(rename = "RefreshToken", default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthData {
    #[serde(rename = "AuthenticationResult")]
    pub authentication_result: AuthenticationResult,
}

/// One entry of `GET /service/list`.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceEntry {
    pub service_id: String,
    #[serde(default)]
    pub channel_ids: Vec<String>,
}

/// The body of `POST /service/group/create`, borrowed: a 1,000-id list is
/// encoded straight from the caller's slice.
#[derive(Debug, Serialize)]
pub struct NewGroup<'a> {
    pub group_id: &'a str,
    pub characters: &'a IdList,
}

/// One entry of `GET /user/group/list`.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupEntry {
    pub group_id: String,
    pub characters: Vec<String>,
}

/// `data` of `GET /file/upload`: an S3-style presigned POST.
#[derive(Debug, Clone, Deserialize)]
pub struct UploadTarget {
    pub url: String,
    pub fields: serde_json::Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_10000_or_204_only() {
        let ok: Envelope = serde_json::from_str(r#"{"code":10000,"data":1}"#).unwrap();
        let nc: Envelope = serde_json::from_str(r#"{"code":204}"#).unwrap();
        let bad: Envelope = serde_json::from_str(r#"{"code":40001,"message":"no"}"#).unwrap();
        let missing: Envelope = serde_json::from_str(r#"{"data":1}"#).unwrap();
        assert!(ok.is_success() && nc.is_success());
        assert!(!bad.is_success() && !missing.is_success());
        assert_eq!(bad.failure_text(), "code 40001: no");
    }

    #[test]
    fn refused_credentials_are_recognised_once_here() {
        let env = |j: &str| serde_json::from_str::<Envelope>(j).unwrap();
        assert!(env(r#"{"code":40001,"message":"no"}"#).is_unauthorized());
        assert!(env(r#"{"code":"401","message":"x"}"#).is_unauthorized());
        assert!(env(r#"{"code":500,"message":"Token expired"}"#).is_unauthorized());
        assert!(!env(r#"{"code":40004,"message":"unknown channel"}"#).is_unauthorized());
        assert!(!env(r#"{"code":40003}"#).is_unauthorized());
    }

    #[test]
    fn character_object_allows_null_avatar() {
        let c: CharacterObject = serde_json::from_str(
            r#"{"character_id":"c1","character_context":{"name":"Meow","avatar":null,"description":"cat","extra":1}}"#,
        )
        .unwrap();
        assert_eq!(c.character_context.name, "Meow");
        assert_eq!(c.character_context.avatar, None);
    }
}
