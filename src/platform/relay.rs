//! Authenticated calls made on another process's sign-in.
//!
//! In a cluster only the gateway signs in (an account should be signed in
//! once: several sign-ins may invalidate each other's tokens). Every other
//! node hands its authenticated calls to the gateway, which makes them
//! with its own token and returns the answer. [`HttpApi`](super::HttpApi)
//! does the handing over when it has a [`CallRelay`]; how the call travels
//! (Redis, in `src/cluster/relay.rs`) is not this layer's business.

use super::PlatformError;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One authenticated call, as data: what `HttpApi::call` would send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayedCall {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: Vec<(String, String)>,
    #[serde(default)]
    pub body: Option<Value>,
}

impl RelayedCall {
    /// `GET /path`, for messages.
    pub fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A failed call, as it travels back: the kind and the text, never a body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayedFailure {
    /// `unauthorized`, `rejected`, `bad_response` or `unreachable`.
    pub kind: String,
    pub detail: String,
}

impl RelayedFailure {
    pub fn of(e: &PlatformError) -> Self {
        let (kind, detail) = match e {
            PlatformError::Unauthorized { detail, .. } => ("unauthorized", detail.clone()),
            PlatformError::Rejected { detail, .. } => ("rejected", detail.clone()),
            PlatformError::BadResponse { reason, .. } => ("bad_response", reason.clone()),
            PlatformError::Transport { source, .. } => ("unreachable", source.to_string()),
            PlatformError::File(d) => ("rejected", d.clone()),
            PlatformError::Relay { detail, .. } => ("unreachable", detail.clone()),
            PlatformError::Shared(e) => return Self::of(e),
        };
        RelayedFailure {
            kind: kind.into(),
            detail,
        }
    }

    pub fn into_error(self, what: String) -> PlatformError {
        let detail = self.detail;
        match self.kind.as_str() {
            "unauthorized" => PlatformError::Unauthorized { what, detail },
            "bad_response" => PlatformError::BadResponse {
                what,
                reason: detail,
            },
            "rejected" => PlatformError::Rejected { what, detail },
            _ => PlatformError::Relay {
                what,
                detail: format!("the gateway could not reach the platform: {detail}"),
            },
        }
    }
}

/// Makes authenticated calls on this process's behalf.
pub trait CallRelay: Send + Sync {
    fn call(&self, call: RelayedCall) -> BoxFuture<'static, Result<Value, PlatformError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_kind_across_the_trip() {
        let e = PlatformError::Rejected {
            what: "GET /x".into(),
            detail: "no such channel".into(),
        };
        let back = RelayedFailure::of(&e).into_error("GET /x".into());
        assert_eq!(back.to_string(), e.to_string());
    }
}
