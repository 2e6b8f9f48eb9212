//! Services and their agents (service-owned characters), and the character
//! objects the API returns for users and agents alike.

use serde_json::{json, Value};

use super::{new_id, Agent, Service, State, StateError};

impl State {
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
                    .filter(|c| {
                        self.channels
                            .get(*c)
                            .is_some_and(|ch| ch.service_id.as_deref() == Some(id.as_str()))
                    })
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
        self.agent_order.push(character_id.clone());
        self.agents.entry(character_id.clone()).or_insert(Agent {
            character_id,
            service_id: service_id.to_string(),
            name: name.to_string(),
            avatar,
            description,
        })
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

    /// A character id for a user or agent id, a user name, or an agent name
    /// (agents of `service_id` first, then any agent).
    pub fn resolve_character(&self, who: &str, service_id: Option<&str>) -> Option<String> {
        if self.accounts.contains_key(who) || self.agents.contains_key(who) {
            return Some(who.to_string());
        }
        if let Ok(account) = self.resolve_user(who) {
            return Some(account.user_id.clone());
        }
        let named = |a: &&Agent| a.name == who;
        let agents = || self.agent_order.iter().filter_map(|id| self.agents.get(id));
        agents()
            .filter(|a| Some(a.service_id.as_str()) == service_id)
            .find(named)
            .or_else(|| agents().find(named))
            .map(|a| a.character_id.clone())
    }
}
