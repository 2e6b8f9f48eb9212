//! `SandboxControl`: in-process access to the sandbox, used by `dev`, by
//! scenario tests and by the control HTTP API (which is a thin JSON wrapper
//! around these same methods).
//!
//! Simulated users act exactly as a user's client would: their actions go
//! through the same path as a real user's WebSocket frames.

pub(super) mod action;
pub(super) mod api;
mod fields;

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::sandbox::faults::{FaultRequest, FaultState};
use crate::sandbox::shared::Shared;
use crate::sandbox::state::{CharacterSummary, StateError, Stats};
use crate::sandbox::upward::UserAction;
use crate::sandbox::view::{View, ViewEvent};
use action::ControlAction;

/// A simulated user's credentials (the password is only ever returned here).
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

/// WebSocket connections, as [`SandboxControl::connections`] counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Connections {
    /// Sockets whose task is still running, logged in or not.
    pub open: usize,
    /// Registrations in the connection table (a service's socket, each of a
    /// user's sockets).
    pub logged_in: usize,
}

/// Why a control operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("unknown recipient {0:?} (not a user or agent name or id)")]
    UnknownRecipient(String),
    #[error("unknown message {0:?} (not among the messages this user received here)")]
    UnknownMessage(String),
    #[error("unknown action {0:?}")]
    BadAction(String),
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ControlError {
    /// The HTTP status the control API answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ControlError::UnknownUser(_)
            | ControlError::UnknownChannel(_)
            | ControlError::UnknownRecipient(_)
            | ControlError::UnknownMessage(_) => StatusCode::NOT_FOUND,
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

/// One channel as `GET /sandbox/channels` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelSummary {
    pub channel_id: String,
    pub channel_name: String,
    /// How many members the channel has.
    pub members: usize,
    pub service_id: Option<String>,
    /// True if the bound service has a logged-in WebSocket.
    pub service_connected: bool,
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

    /// Performs a named action with no fields (`join`, `leave`, `refresh`)
    /// as `user` (a name or a user id). Returns whether the upward event(s)
    /// were handed to the bound service's connection.
    pub async fn act(
        &self,
        user: &str,
        channel_id: &str,
        action: &str,
    ) -> Result<bool, ControlError> {
        self.act_json(user, channel_id, action, &Map::new()).await
    }

    /// Performs a named action with its fields, exactly as `POST
    /// /sandbox/act` does (e.g. `"message"` with `{"text": "hi",
    /// "recipients": ["bob"]}`).
    pub async fn act_json(
        &self,
        user: &str,
        channel_id: &str,
        action: &str,
        fields: &Map<String, Value>,
    ) -> Result<bool, ControlError> {
        let action = ControlAction::parse(action, fields)?;
        self.act_with(user, channel_id, action).await
    }

    /// Performs a control action as `user`: recipients are resolved by name
    /// or id, a menu click finds the message among those `user` received.
    pub async fn act_with(
        &self,
        user: &str,
        channel_id: &str,
        action: ControlAction,
    ) -> Result<bool, ControlError> {
        let mut world = self.shared.world();
        let user_id = world.state.resolve_user(user)?.user_id.clone();
        let channel_id = world.state.resolve_channel(channel_id)?;
        let action = world.resolve_control_action(&user_id, &channel_id, action)?;
        Ok(world.user_action(&user_id, &channel_id, action)?)
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
        let channel_id = world.state.resolve_channel(channel_id)?;
        Ok(world.user_action(&user_id, &channel_id, action)?)
    }

    /// What `user` currently sees in the channel.
    pub fn view(&self, user: &str, channel_id: &str) -> Result<View, ControlError> {
        let world = self.shared.world();
        let user_id = world.state.resolve_user(user)?.user_id.clone();
        let channel_id = world.state.resolve_channel(channel_id)?;
        Ok(world.state.view(&user_id, &channel_id))
    }

    /// Ground-truth members in join order.
    pub fn members(&self, channel_id: &str) -> Result<Vec<CharacterSummary>, ControlError> {
        let world = self.shared.world();
        let channel = world
            .state
            .channel(&world.state.resolve_channel(channel_id)?)?;
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

    /// Every channel in creation order, with its member count and service.
    pub fn channels(&self) -> Vec<ChannelSummary> {
        let world = self.shared.world();
        world
            .state
            .channels()
            .map(|channel| ChannelSummary {
                channel_id: channel.channel_id.clone(),
                channel_name: channel.name.clone(),
                members: channel.members.len(),
                service_id: channel.service_id.clone(),
                service_connected: channel
                    .service_id
                    .as_deref()
                    .is_some_and(|id| world.hub.service(id).is_some()),
            })
            .collect()
    }

    pub fn stats(&self) -> Stats {
        self.shared.world().state.stats.clone()
    }

    /// The WebSocket connections right now: a closed connection counts in
    /// neither number once its task has ended.
    pub fn connections(&self) -> Connections {
        let logged_in = self.shared.world().hub.registered();
        Connections {
            open: self.shared.live_sockets(),
            logged_in,
        }
    }

    /// Whether the service bound to `channel_id` has a logged-in socket.
    pub fn service_connected(&self, channel_id: &str) -> bool {
        self.channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.service_connected)
    }

    /// Waits, at most `bound`, until [`Self::service_connected`] is
    /// `connected`; whether it got there. A host reports itself started once
    /// its login frame is written, and the sandbox registers the socket a
    /// moment later: a member joining in between would reach no service.
    pub async fn wait_service_connected(
        &self,
        channel_id: &str,
        connected: bool,
        bound: std::time::Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            if self.service_connected(channel_id) == connected {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Injects faults (see `faults.rs`) and returns those in force.
    pub fn inject_faults(&self, req: FaultRequest) -> Result<FaultState, ControlError> {
        req.validate().map_err(ControlError::BadRequest)?;
        {
            let mut world = self.shared.world();
            let conns = world.hub.all();
            if let Some(paused) = req.pause_ws {
                for c in &conns {
                    c.set_paused(paused);
                }
            }
            if req.drop_connections {
                for c in &conns {
                    c.kill();
                }
            }
            if req.reject_tokens {
                world.state.revoke_access_tokens();
            }
        }
        let state = self.shared.faults.update(|s| {
            if let Some(ms) = req.delay_ms {
                s.delay_ms = ms;
            }
            if let Some(rate) = req.http_error_rate {
                s.http_error_rate = rate;
            }
            if let Some(paused) = req.pause_ws {
                s.pause_ws = paused;
            }
            s.connections_dropped += u64::from(req.drop_connections);
            s.token_rejections += u64::from(req.reject_tokens);
        });
        tracing::info!(?state, "faults injected");
        Ok(state)
    }

    /// Every access and refresh token issued so far (for tests that prove
    /// no token reaches a log; not served over HTTP).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.world().state.issued_tokens().to_vec()
    }

    pub fn faults(&self) -> FaultState {
        self.shared.faults.snapshot()
    }

    /// A receiver of every view change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ViewEvent> {
        self.shared.subscribe()
    }

    /// The control API's simulated users, by name.
    pub fn users(&self) -> Vec<CharacterSummary> {
        self.shared.world().state.sandbox_users()
    }

    /// Publishes the attached host's script status (version, load time,
    /// last reload error) to the dev page. `dev` calls this on every change.
    pub fn set_script_status(&self, status: Value) {
        self.shared.script_status.send_replace(Some(status));
    }

    /// Lets the dev page's spell box reach the attached host.
    pub fn set_spell_hook(&self, hook: crate::sandbox::shared::SpellHook) {
        if let Ok(mut h) = self.shared.spell.lock() {
            *h = Some(hook);
        }
    }

    /// The last status given to `set_script_status`, if any.
    pub fn script_status(&self) -> Option<Value> {
        self.shared.script_status.borrow().clone()
    }
}
