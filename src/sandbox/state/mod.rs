//! The sandbox's ground truth: accounts, tokens, services, agents, channels,
//! members and groups.
//!
//! Pure data with no I/O and no locking, so every rule the platform enforces
//! (who owns what, who is a member, what a group id expands to) lives in one
//! place that the HTTP API, the WebSocket relay and the control API share.
//! This file holds the types and channels; `accounts`, `services` and
//! `groups` add their parts of `State`. Per-user views live in `view.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::view::{Received, DEFAULT_CHANNEL_TYPE};

mod accounts;
mod dedup;
mod groups;
use groups::GroupStore;
pub use groups::{unique, GroupBounds};
mod services;

/// A rule of the platform was broken, or an id is unknown.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("unknown service {0:?}")]
    UnknownService(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error("unknown character {0:?}")]
    UnknownCharacter(String),
    #[error("service {0:?} belongs to another account")]
    NotOwner(String),
    #[error("incorrect username or password")]
    WrongPassword,
    #[error("invalid or expired token")]
    BadToken,
    #[error("bad request: {0}")]
    Invalid(String),
}

/// A signed-up account; every account is also a user character.
#[derive(Debug, Clone)]
pub struct Account {
    pub user_id: String,
    pub email: String,
    pub password: String,
    pub name: String,
    pub avatar: Option<String>,
    pub description: Option<String>,
}

/// A Custom Channel Service registered by an account.
#[derive(Debug, Clone)]
pub struct Service {
    /// The user id of the account that created it.
    pub owner: String,
}

/// A character owned by a service (an "agent").
#[derive(Debug, Clone)]
pub struct Agent {
    pub character_id: String,
    pub service_id: String,
    pub name: String,
    pub avatar: Option<String>,
    pub description: Option<String>,
}

/// A channel with its ground-truth member list (join order) and history.
#[derive(Debug, Clone)]
pub struct Channel {
    pub channel_id: String,
    pub name: String,
    pub description: String,
    /// `ccs`, or what the bound service's last `update/channel_info` said.
    pub channel_type: String,
    pub members: Vec<String>,
    pub service_id: Option<String>,
    pub history: Vec<Value>,
}

/// An ordered list of character ids behind a group id.
#[derive(Debug, Clone)]
pub struct Group {
    /// As created: order and duplicates kept (what the lookup endpoints say).
    pub characters: IdList,
    /// Duplicates removed, order kept (what a frame naming the group reaches);
    /// the same allocation as `characters` when there were none. Made when
    /// a frame first names the group as its recipients: most groups are
    /// views' character lists, which never are, and at 1,001 ids a list
    /// the set that finds repeats was a tenth of a group's creation.
    pub unique: Option<IdList>,
    pub channel_id: Option<String>,
    /// When it was created and last used, on the store's clock.
    pub created: u64,
    pub used: u64,
}

/// A shared, immutable list of ids: a 1,000-member list travels from a group
/// to every view that shows it without copying its strings.
pub use crate::protocol::IdList;

/// A member as the control API reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CharacterSummary {
    pub character_id: String,
    pub name: String,
}

/// Size counters for one type of frame received from services.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct FrameStats {
    pub count: u64,
    /// The largest frame of this type, in bytes of JSON text.
    pub max_bytes: u64,
}

/// Counters that let tests prove client-side caching works and that big
/// recipient lists travel as small group ids.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Group creations asked for (a list asked for again counts again).
    pub groups_created: u64,
    /// Groups and ids the store holds now (bounded: `GroupBounds`).
    pub groups_held: u64,
    pub group_ids_held: u64,
    /// `"METHOD /path"` -> calls.
    pub requests: BTreeMap<String, u64>,
    /// Frame `type` -> counters, for frames from logged-in services.
    pub frames: BTreeMap<String, FrameStats>,
    /// Frames from services whose request id was already delivered (re-sent
    /// after a reconnect): acknowledged, not delivered again.
    pub duplicate_frames: u64,
    /// Frames (of any type) received on a service's connection after
    /// another connection logged in for the same service: what a deposed
    /// cluster gateway must never write.
    pub stale_service_frames: u64,
    /// Upward frames (user actions) handed to a bound service's connection;
    /// scenario tests wait until the host handled this many.
    pub upward_frames: u64,
    /// User id -> frames queued to that user's connections (what a
    /// user-mode bot in a scenario must have handled to have settled).
    pub user_frames: BTreeMap<String, u64>,
}

/// Everything the sandbox knows. Collections that clients list keep their
/// creation order in a side vector, so listings are stable.
#[derive(Debug, Default)]
pub struct State {
    accounts: HashMap<String, Account>,
    emails: HashMap<String, String>,
    access_tokens: HashMap<String, String>,
    refresh_tokens: HashMap<String, String>,
    services: HashMap<String, Service>,
    service_order: Vec<String>,
    agents: HashMap<String, Agent>,
    agent_order: Vec<String>,
    channels: HashMap<String, Channel>,
    channel_order: Vec<String>,
    groups: GroupStore,
    upload_keys: HashSet<String>,
    pub(crate) views: HashMap<(String, String), Received>,
    pub(crate) stats: Stats,
    seen_requests: HashMap<String, dedup::SeenRequests>,
    issued_tokens: Vec<String>,
}

/// A fresh opaque id (UUID v4, hyphenated), like the platform's.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn new_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl State {
    /// An empty world whose group store keeps at most `bounds`.
    pub fn with_group_bounds(bounds: GroupBounds) -> Self {
        Self {
            groups: GroupStore::new(bounds),
            ..Self::default()
        }
    }

    pub fn create_channel(&mut self, name: &str, description: &str) -> String {
        let channel_id = new_id();
        self.channels.insert(
            channel_id.clone(),
            Channel {
                channel_id: channel_id.clone(),
                name: name.to_string(),
                description: description.to_string(),
                channel_type: DEFAULT_CHANNEL_TYPE.to_string(),
                members: Vec::new(),
                service_id: None,
                history: Vec::new(),
            },
        );
        self.channel_order.push(channel_id.clone());
        channel_id
    }

    pub fn channel(&self, channel_id: &str) -> Result<&Channel, StateError> {
        self.channels
            .get(channel_id)
            .ok_or_else(|| StateError::UnknownChannel(channel_id.to_string()))
    }

    /// The id of the channel `given` names: its id, or the name of exactly
    /// one channel (the control API takes either, as it does for users).
    pub fn resolve_channel(&self, given: &str) -> Result<String, StateError> {
        if self.channels.contains_key(given) {
            return Ok(given.to_string());
        }
        let mut named = self.channels().filter(|c| c.name == given);
        match (named.next(), named.next()) {
            (Some(one), None) => Ok(one.channel_id.clone()),
            (Some(_), Some(_)) => Err(StateError::Invalid(format!(
                "several channels are named {given:?}: use the channel id"
            ))),
            (None, _) => Err(StateError::UnknownChannel(given.to_string())),
        }
    }

    pub fn channel_mut(&mut self, channel_id: &str) -> Result<&mut Channel, StateError> {
        self.channels
            .get_mut(channel_id)
            .ok_or_else(|| StateError::UnknownChannel(channel_id.to_string()))
    }

    /// All channels in creation order.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channel_order
            .iter()
            .filter_map(|id| self.channels.get(id))
    }

    /// Adds a member at the end of the join order; false if already there.
    pub fn add_member(&mut self, channel_id: &str, user_id: &str) -> Result<bool, StateError> {
        let channel = self.channel_mut(channel_id)?;
        if channel.members.iter().any(|m| m == user_id) {
            return Ok(false);
        }
        channel.members.push(user_id.to_string());
        Ok(true)
    }

    /// Removes a member; false if they were not one.
    pub fn remove_member(&mut self, channel_id: &str, user_id: &str) -> Result<bool, StateError> {
        let channel = self.channel_mut(channel_id)?;
        let before = channel.members.len();
        channel.members.retain(|m| m != user_id);
        Ok(channel.members.len() != before)
    }

    /// Binds `service_id` to the channel, replacing any other service.
    pub fn bind(&mut self, channel_id: &str, service_id: &str) -> Result<(), StateError> {
        self.channel_mut(channel_id)?.service_id = Some(service_id.to_string());
        Ok(())
    }

    /// Unbinds `service_id` if it is the channel's service.
    pub fn unbind(&mut self, channel_id: &str, service_id: &str) -> Result<(), StateError> {
        let channel = self.channel_mut(channel_id)?;
        if channel.service_id.as_deref() == Some(service_id) {
            channel.service_id = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_users_are_idempotent_and_resolvable() {
        let mut state = State::default();
        let first = state.ensure_sandbox_user("alice");
        let again = state.ensure_sandbox_user("alice");
        assert_eq!(
            (first.user_id.as_str(), first.password.as_str()),
            (again.user_id.as_str(), again.password.as_str())
        );
        assert_eq!(first.email, "alice@sandbox.local");
        assert_eq!(
            state.resolve_user("alice").map(|a| a.user_id.clone()),
            Ok(first.user_id.clone())
        );
        assert_eq!(
            state.resolve_user(&first.user_id).map(|a| a.name.clone()),
            Ok("alice".to_string())
        );
        assert_eq!(
            state.resolve_user("bob").err(),
            Some(StateError::UnknownUser("bob".into()))
        );
        // The sandbox user signs in with the generated password like anyone else.
        assert!(state
            .sign_in("alice@sandbox.local", &first.password)
            .is_ok());
        assert_eq!(
            state.sign_in("alice@sandbox.local", "guess").err(),
            Some(StateError::WrongPassword)
        );
    }

    #[test]
    fn members_keep_join_order_and_groups_expand() {
        let mut state = State::default();
        let channel = state.create_channel("lobby", "");
        assert_eq!(state.add_member(&channel, "b"), Ok(true));
        assert_eq!(state.add_member(&channel, "a"), Ok(true));
        assert_eq!(state.add_member(&channel, "b"), Ok(false));
        assert_eq!(
            state.channel(&channel).map(|c| c.members.clone()),
            Ok(vec!["b".to_string(), "a".to_string()])
        );
        assert_eq!(state.remove_member(&channel, "b"), Ok(true));
        assert_eq!(state.remove_member(&channel, "b"), Ok(false));

        let group = state.create_group(vec!["x".into(), "y".into()], None);
        assert_eq!(
            state.expand_group(&group).map(|ids| ids.to_vec()),
            Ok(vec!["x".to_string(), "y".to_string()])
        );
        assert_eq!(state.expand_group("service").map(|ids| ids.len()), Ok(0));
        let twice = state.create_group(vec!["x".into(), "y".into(), "x".into()], None);
        assert_eq!(state.expand_group(&twice).map(|ids| ids.len()), Ok(3));
        assert_eq!(
            state.expand_group_unique(&twice).map(|ids| ids.to_vec()),
            Ok(vec!["x".to_string(), "y".to_string()])
        );
        assert!(state.expand_group("nope").is_err());
        assert_eq!(state.stats.groups_created, 2);
    }

    #[test]
    fn only_the_owner_may_use_a_service() {
        let mut state = State::default();
        let service = state.create_service("owner");
        assert!(state.owned_service("owner", &service).is_ok());
        assert_eq!(
            state.owned_service("other", &service).err(),
            Some(StateError::NotOwner(service.clone()))
        );
        let channel = state.create_channel("c", "");
        state.bind(&channel, &service).expect("bind");
        assert_eq!(
            state.services_of("owner"),
            vec![(service.clone(), vec![channel.clone()])]
        );
        state
            .unbind(&channel, "someone-else")
            .expect("unbind is a no-op");
        assert_eq!(state.services_of("owner")[0].1, vec![channel]);
    }
}
