//! `SandboxControl`: in-process access to the sandbox, used by `dev`, by
//! scenario tests and by the control HTTP API (which is a thin JSON wrapper
//! around these same methods).
//!
//! Simulated users act exactly as a user's client would: their actions go
//! through the same path as a real user's WebSocket frames.

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use tokio::sync::broadcast;

use super::shared::Shared;
use super::state::{CharacterSummary, StateError, Stats};
use super::upward::UserAction;
use super::view::{View, ViewEvent};

/// A simulated user's credentials (the password is only ever returned here).
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

/// Why a control operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("unknown action {0:?}")]
    BadAction(String),
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ControlError {
    /// The HTTP status the control API answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ControlError::UnknownUser(_) | ControlError::UnknownChannel(_) => StatusCode::NOT_FOUND,
            ControlError::BadAction(_) | ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<StateError> for ControlError {
    fn from(err: StateError) -> Self {
        match err {
            StateError::UnknownUser(user) => ControlError::UnknownUser(user),
            StateError::UnknownChannel(channel) => ControlError::UnknownChannel(channel),
            other => ControlError::BadRequest(other.to_string()),
        }
    }
}

/// Cheap to clone; every clone drives the same sandbox.
#[derive(Debug, Clone)]
pub struct SandboxControl {
    shared: Arc<Shared>,
}

impl SandboxControl {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Creates `<name>@sandbox.local` (idempotent per name: same user, same
    /// password).
    pub fn create_user(&self, name: &str) -> UserInfo {
        let account = self.shared.world().state.ensure_sandbox_user(name);
        tracing::info!(user_id = %account.user_id, name, "sandbox user ready");
        UserInfo {
            user_id: account.user_id,
            name: account.name,
            email: account.email,
            password: account.password,
        }
    }

    /// Creates a channel with no members and no service; returns its id.
    pub fn create_channel(&self, name: &str) -> String {
        let channel_id = self.shared.world().state.create_channel(name, "");
        tracing::info!(channel_id, name, "sandbox channel created");
        channel_id
    }

    /// Performs a named action (`join`, `leave`, `refresh`) as `user` (a name
    /// or a user id). Returns whether the upward event(s) were handed to the
    /// bound service's connection.
    pub async fn act(
        &self,
        user: &str,
        channel_id: &str,
        action: &str,
    ) -> Result<bool, ControlError> {
        let action = UserAction::from_name(action)
            .ok_or_else(|| ControlError::BadAction(action.to_string()))?;
        self.perform(user, channel_id, action).await
    }

    /// Performs any user action, including messages and clicks.
    pub async fn perform(
        &self,
        user: &str,
        channel_id: &str,
        action: UserAction,
    ) -> Result<bool, ControlError> {
        let mut world = self.shared.world();
        let user_id = world.state.resolve_user(user)?.user_id.clone();
        Ok(world.user_action(&user_id, channel_id, action)?)
    }

    /// What `user` currently sees in the channel.
    pub fn view(&self, user: &str, channel_id: &str) -> Result<View, ControlError> {
        let world = self.shared.world();
        let user_id = world.state.resolve_user(user)?.user_id.clone();
        world.state.channel(channel_id)?;
        Ok(world.state.view(&user_id, channel_id))
    }

    /// Ground-truth members in join order.
    pub fn members(&self, channel_id: &str) -> Result<Vec<CharacterSummary>, ControlError> {
        let world = self.shared.world();
        let channel = world.state.channel(channel_id)?;
        Ok(channel
            .members
            .iter()
            .map(|id| CharacterSummary {
                character_id: id.clone(),
                name: world
                    .state
                    .character_brief(id)
                    .map(|(name, _)| name)
                    .unwrap_or_default(),
            })
            .collect())
    }

    pub fn stats(&self) -> Stats {
        self.shared.world().state.stats.clone()
    }

    /// A receiver of every view change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ViewEvent> {
        self.shared.subscribe()
    }
}
