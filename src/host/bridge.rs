//! The host's side of the script API: what `fetch_member_ids`,
//! `send_characters`, `create_agent`... actually do.
//!
//! It runs on the script thread. Sends are queued to the outbox and return at
//! once; only calls whose result the script needs (creating an agent,
//! fetching profiles) wait on the network, always with a timeout, because
//! nothing can interrupt a handler blocked inside a host function.

use super::members::MemberTable;
use super::outbox::{Downward, OutboxSender};
use crate::platform::{HttpApi, PlatformError, Uploader};
use crate::protocol::http::{CharacterContext, CharacterObject};
use crate::script::{Character, HostApi};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// How long a host function may wait on the platform.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HostBridge {
    pub members: Rc<RefCell<MemberTable>>,
    pub outbox: OutboxSender,
    pub http: Arc<HttpApi>,
    pub uploader: Arc<Uploader>,
    pub rt: tokio::runtime::Handle,
    /// Known once the service is signed in (set before any handler runs).
    pub service_id: Rc<RefCell<String>>,
}

pub fn character_of(c: CharacterObject) -> Character {
    Character {
        character_id: c.character_id,
        name: c.character_context.name,
        avatar: c.character_context.avatar,
        description: c.character_context.description,
    }
}

impl HostBridge {
    fn wait<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, PlatformError>>,
    ) -> Result<T, String> {
        // The timer must be created inside the runtime, hence the async block.
        match self
            .rt
            .block_on(async { tokio::time::timeout(CALL_TIMEOUT, fut).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{what}: {e}")),
            Err(_) => Err(format!(
                "{what}: no answer from the platform within {CALL_TIMEOUT:?}"
            )),
        }
    }

    /// Re-reads a channel's members from the platform into the table.
    pub fn resync(&self, channel_id: &str) -> Result<(), String> {
        let service_id = self.service_id.borrow().clone();
        let members = self.wait(
            "member list",
            self.http.channel_members(channel_id, &service_id),
        )?;
        self.members.borrow_mut().replace(channel_id, members);
        Ok(())
    }
}

impl HostApi for HostBridge {
    fn member_ids(&self, channel_id: &str) -> Result<Vec<String>, String> {
        if let Some(list) = self.members.borrow().get(channel_id) {
            return Ok(list.to_vec());
        }
        // A channel the host does not serve: ask the platform once.
        self.resync(channel_id)?;
        Ok(self
            .members
            .borrow()
            .get(channel_id)
            .map(<[String]>::to_vec)
            .unwrap_or_default())
    }

    fn send_characters(
        &self,
        channel_id: &str,
        characters: Vec<String>,
        recipients: Vec<String>,
    ) -> Result<(), String> {
        self.outbox
            .send(Downward::Characters {
                channel_id: channel_id.to_string(),
                characters,
                recipients,
            })
            .map_err(|_| "the host is shutting down".to_string())
    }

    fn create_agent(
        &self,
        name: &str,
        avatar: &str,
        description: &str,
    ) -> Result<Character, String> {
        let service_id = self.service_id.borrow().clone();
        let avatar_url = self.wait("create_agent avatar", self.uploader.url_for(avatar))?;
        let context = CharacterContext {
            name: name.to_string(),
            avatar: Some(avatar_url),
            description: Some(description.to_string()),
        };
        let created = self.wait(
            "create_agent",
            self.http.create_agent(&service_id, &context),
        )?;
        tracing::info!(name, character_id = %created.character_id, "agent created");
        Ok(character_of(created))
    }

    fn fetch_agents(&self) -> Result<Vec<Character>, String> {
        let service_id = self.service_id.borrow().clone();
        let agents = self.wait("fetch_agents", self.http.service_agents(&service_id))?;
        Ok(agents.into_iter().map(character_of).collect())
    }

    fn fetch_profiles(&self, ids: Vec<String>) -> Result<Vec<Character>, String> {
        let found = self.wait("fetch_character_profile", self.http.fetch_profiles(&ids))?;
        Ok(found.into_iter().map(character_of).collect())
    }
}
