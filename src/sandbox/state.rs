//! The sandbox's ground truth: accounts, tokens, services, agents, channels,
//! members and groups.
//!
//! Pure data with no I/O and no locking, so every rule the platform enforces
//! (who owns what, who is a member, what a group id expands to) lives in one
//! place that the HTTP API, the WebSocket relay and the control API share.
//! Per-user views live next door in `view.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::view::View;

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
    pub members: Vec<String>,
    pub service_id: Option<String>,
    pub history: Vec<Value>,
}

/// An ordered list of character ids behind a group id.
#[derive(Debug, Clone)]
pub struct Group {
    pub characters: Vec<String>,
    pub channel_id: Option<String>,
}

/// A member as the control API reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CharacterSummary {
    pub character_id: String,
    pub name: String,
}

/// Counters that let tests prove client-side caching works.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub groups_created: u64,
    pub requests: BTreeMap<String, u64>,
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
    groups: HashMap<String, Group>,
    group_order: Vec<String>,
    upload_keys: HashSet<String>,
    pub(crate) views: HashMap<(String, String), View>,
    pub(crate) stats: Stats,
}

/// A fresh opaque id (UUID v4, hyphenated), like the platform's.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn new_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl State {
    // ----- accounts and tokens -------------------------------------------------

    /// Creates an account for `email`, or returns the existing one untouched.
    pub fn ensure_account(&mut self, email: &str, password: &str) -> &Account {
        let user_id = match self.emails.get(email) {
            Some(id) => id.clone(),
            None => {
                let user_id = new_id();
                let name = email.split('@').next().unwrap_or(email).to_string();
                let account = Account {
                    user_id: user_id.clone(),
                    email: email.to_string(),
                    password: password.to_string(),
                    name,
                    avatar: None,
                    description: None,
                };
                self.emails.insert(email.to_string(), user_id.clone());
                self.accounts.insert(user_id.clone(), account);
                user_id
            }
        };
        &self.accounts[&user_id]
    }

    /// Creates a control-API user `<name>@sandbox.local` with a generated
    /// password; idempotent per name.
    pub fn ensure_sandbox_user(&mut self, name: &str) -> Account {
        let email = format!("{name}@sandbox.local");
        let mut account = self.ensure_account(&email, &new_secret()).clone();
        if account.name != name {
            // The email's local part is the name; keep what the caller asked for.
            account.name = name.to_string();
            if let Some(stored) = self.accounts.get_mut(&account.user_id) {
                stored.name = name.to_string();
            }
        }
        account
    }

    /// Signs in (creating unknown accounts) and returns (access, refresh) tokens.
    pub fn sign_in(&mut self, email: &str, password: &str) -> Result<(String, String), StateError> {
        let account = self.ensure_account(email, password);
        if account.password != password {
            return Err(StateError::WrongPassword);
        }
        let user_id = account.user_id.clone();
        let access = new_secret();
        let refresh = new_secret();
        self.access_tokens.insert(access.clone(), user_id.clone());
        self.refresh_tokens.insert(refresh.clone(), user_id);
        Ok((access, refresh))
    }

    /// A new access token for a refresh token; older access tokens stay valid.
    pub fn refresh(
        &mut self,
        email: Option<&str>,
        refresh_token: &str,
    ) -> Result<String, StateError> {
        let user_id = self
            .refresh_tokens
            .get(refresh_token)
            .cloned()
            .ok_or(StateError::BadToken)?;
        if let Some(email) = email.filter(|e| !e.is_empty()) {
            if self.emails.get(email) != Some(&user_id) {
                return Err(StateError::BadToken);
            }
        }
        let access = new_secret();
        self.access_tokens.insert(access.clone(), user_id);
        Ok(access)
    }

    pub fn sign_out(&mut self, access_token: &str) {
        self.access_tokens.remove(access_token);
    }

    /// The user id an access token belongs to.
    pub fn user_for_token(&self, token: &str) -> Result<&str, StateError> {
        self.access_tokens
            .get(token)
            .map(String::as_str)
            .ok_or(StateError::BadToken)
    }

    pub fn account(&self, user_id: &str) -> Result<&Account, StateError> {
        self.accounts
            .get(user_id)
            .ok_or_else(|| StateError::UnknownUser(user_id.to_string()))
    }

    pub fn account_mut(&mut self, user_id: &str) -> Result<&mut Account, StateError> {
        self.accounts
            .get_mut(user_id)
            .ok_or_else(|| StateError::UnknownUser(user_id.to_string()))
    }

    /// Resolves a user id, a sandbox user name, or any account's name.
    pub fn resolve_user(&self, user: &str) -> Result<&Account, StateError> {
        if let Some(account) = self.accounts.get(user) {
            return Ok(account);
        }
        let sandbox_email = format!("{user}@sandbox.local");
        self.emails
            .get(&sandbox_email)
            .or_else(|| self.emails.get(user))
            .and_then(|id| self.accounts.get(id))
            .or_else(|| self.accounts.values().find(|a| a.name == user))
            .ok_or_else(|| StateError::UnknownUser(user.to_string()))
    }

    // ----- services and agents -------------------------------------------------

    pub fn create_service(&mut self, owner: &str) -> String {
        let service_id = new_id();
        self.services.insert(
            service_id.clone(),
            Service {
                owner: owner.to_string(),
            },
        );
        self.service_order.push(service_id.clone());
        service_id
    }

    /// The service, if it exists and `owner` owns it.
    pub fn owned_service(&self, owner: &str, service_id: &str) -> Result<&Service, StateError> {
        let service = self
            .services
            .get(service_id)
            .ok_or_else(|| StateError::UnknownService(service_id.to_string()))?;
        if service.owner != owner {
            return Err(StateError::NotOwner(service_id.to_string()));
        }
        Ok(service)
    }

    /// `[(service_id, bound channel ids)]` for the services `owner` owns.
    pub fn services_of(&self, owner: &str) -> Vec<(String, Vec<String>)> {
        self.service_order
            .iter()
            .filter(|id| self.services.get(*id).is_some_and(|s| s.owner == owner))
            .map(|id| {
                let channels = self
                    .channel_order
                    .iter()
                    .filter(|c| self.channels[*c].service_id.as_deref() == Some(id.as_str()))
                    .cloned()
                    .collect();
                (id.clone(), channels)
            })
            .collect()
    }

    pub fn create_agent(
        &mut self,
        service_id: &str,
        name: &str,
        avatar: Option<String>,
        description: Option<String>,
    ) -> &Agent {
        let character_id = new_id();
        self.agents.insert(
            character_id.clone(),
            Agent {
                character_id: character_id.clone(),
                service_id: service_id.to_string(),
                name: name.to_string(),
                avatar,
                description,
            },
        );
        self.agent_order.push(character_id.clone());
        &self.agents[&character_id]
    }

    pub fn agent_mut(
        &mut self,
        service_id: &str,
        character_id: &str,
    ) -> Result<&mut Agent, StateError> {
        self.agents
            .get_mut(character_id)
            .filter(|a| a.service_id == service_id)
            .ok_or_else(|| StateError::UnknownCharacter(character_id.to_string()))
    }

    pub fn agents_of(&self, service_id: &str) -> Vec<&Agent> {
        self.agent_order
            .iter()
            .filter_map(|id| self.agents.get(id))
            .filter(|a| a.service_id == service_id)
            .collect()
    }

    /// The platform's character object for a user or an agent.
    pub fn character_object(&self, character_id: &str) -> Option<Value> {
        let (name, avatar, description) = if let Some(a) = self.accounts.get(character_id) {
            (&a.name, &a.avatar, &a.description)
        } else {
            let a = self.agents.get(character_id)?;
            (&a.name, &a.avatar, &a.description)
        };
        Some(json!({
            "character_id": character_id,
            "character_context": {"name": name, "avatar": avatar, "description": description},
        }))
    }

    /// (name, avatar) of a user or an agent.
    pub fn character_brief(&self, character_id: &str) -> Option<(String, Option<String>)> {
        if let Some(a) = self.accounts.get(character_id) {
            return Some((a.name.clone(), a.avatar.clone()));
        }
        self.agents
            .get(character_id)
            .map(|a| (a.name.clone(), a.avatar.clone()))
    }

    // ----- channels ---------------------------------------------------------

    pub fn create_channel(&mut self, name: &str, description: &str) -> String {
        let channel_id = new_id();
        self.channels.insert(
            channel_id.clone(),
            Channel {
                channel_id: channel_id.clone(),
                name: name.to_string(),
                description: description.to_string(),
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

    pub fn is_member(&self, channel_id: &str, user_id: &str) -> bool {
        self.channels
            .get(channel_id)
            .is_some_and(|c| c.members.iter().any(|m| m == user_id))
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

    // ----- groups and uploads -----------------------------------------------

    /// Registers a new group and counts it.
    pub fn create_group(&mut self, characters: Vec<String>, channel_id: Option<String>) -> String {
        let group_id = new_id();
        self.groups.insert(
            group_id.clone(),
            Group {
                characters,
                channel_id,
            },
        );
        self.group_order.push(group_id.clone());
        self.stats.groups_created += 1;
        group_id
    }

    /// The ids behind a group id; `"service"` is the empty group.
    pub fn expand_group(&self, group_id: &str) -> Result<Vec<String>, StateError> {
        if group_id == "service" {
            return Ok(Vec::new());
        }
        self.groups
            .get(group_id)
            .map(|g| g.characters.clone())
            .ok_or_else(|| StateError::UnknownGroup(group_id.to_string()))
    }

    /// `(group_id, characters)` of the groups created for a channel.
    pub fn groups_of_channel(&self, channel_id: &str) -> Vec<(String, Vec<String>)> {
        self.group_order
            .iter()
            .filter_map(|id| self.groups.get(id).map(|g| (id, g)))
            .filter(|(_, g)| g.channel_id.as_deref() == Some(channel_id))
            .map(|(id, g)| (id.clone(), g.characters.clone()))
            .collect()
    }

    /// Issues a storage key for an upload with this extension.
    pub fn issue_upload_key(&mut self, extension: &str) -> String {
        let key = format!("{}.{extension}", uuid::Uuid::new_v4().simple());
        self.upload_keys.insert(key.clone());
        key
    }

    /// Consumes an issued upload key; false if it was never issued.
    pub fn take_upload_key(&mut self, key: &str) -> bool {
        self.upload_keys.remove(key)
    }

    pub fn count_request(&mut self, method: &str, path: &str) {
        *self
            .stats
            .requests
            .entry(format!("{method} {path}"))
            .or_default() += 1;
    }
}
