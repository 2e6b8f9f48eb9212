//! Agents that persist: `create_agent` reuses this service's agent of the
//! same name instead of creating a copy on every start (the Python SDK's
//! behaviour, which piles copies up on the platform).
//!
//! The service's agents are read from the platform once, at the first
//! `create_agent`. Whether a reused agent needs an update cannot be told
//! from the platform alone for a local avatar (each upload gets a new URL),
//! so the host remembers what it last applied to each agent in
//! `agents.json` in the data directory (`DIR/data` under `run`; a
//! temporary one under `dev` and `test`, which never write into the service
//! directory): the avatar's identity (its URL, or the SHA-256 of the file)
//! and the description. Without that record (first start, deleted file) a
//! reused agent is updated once.

use crate::script::{AgentProfile, Character};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The records' file name in the data directory (`db_config`'s).
pub const RECORDS_FILE: &str = "agents.json";

/// What the host last applied to one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub name: String,
    /// `Uploader::identity` of the avatar.
    pub avatar: String,
    pub description: String,
}

/// The service's agents by name, and what was applied to them.
#[derive(Debug, Default)]
pub struct AgentBook {
    /// `None` until read from the platform.
    pub by_name: Option<HashMap<String, Character>>,
    applied: HashMap<String, Applied>,
    records: PathBuf,
    /// `fresh: true` agents made in this run, by name and by how many such
    /// calls for that name the calling script thread made before: the
    /// threads run the same code, so their n-th call means the same agent.
    fresh: HashMap<(String, usize), Character>,
}

impl AgentBook {
    /// Reads the records in `data_dir` (a missing or unreadable file is no
    /// records).
    pub fn open(data_dir: &Path) -> Self {
        let records = data_dir.join(RECORDS_FILE);
        let applied = std::fs::read(&records)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        AgentBook {
            by_name: None,
            applied,
            records,
            fresh: HashMap::new(),
        }
    }

    /// The fresh agent another script thread made for its `nth` call
    /// (1-based) for `name`, if it did.
    pub fn fresh_made(&self, name: &str, nth: usize) -> Option<Character> {
        self.fresh.get(&(name.to_string(), nth)).cloned()
    }

    pub fn remember_fresh(&mut self, name: &str, nth: usize, agent: Character) {
        self.fresh.insert((name.to_string(), nth), agent);
    }

    /// Learns the platform's list; with several agents of one name, the
    /// first listed is the one reused.
    pub fn learn(&mut self, agents: Vec<Character>) {
        let mut by_name = HashMap::new();
        for a in agents {
            by_name.entry(a.name.clone()).or_insert(a);
        }
        self.by_name = Some(by_name);
    }

    /// True when `existing` already looks like `profile` (whose avatar's
    /// identity is `avatar`).
    pub fn unchanged(&self, existing: &Character, profile: &AgentProfile, avatar: &str) -> bool {
        match self.applied.get(&existing.character_id) {
            Some(a) => a.avatar == avatar && a.description == profile.description,
            None => {
                existing.description.as_deref() == Some(profile.description.as_str())
                    && existing.avatar.as_deref() == Some(avatar)
            }
        }
    }

    /// Records what was applied to `agent` and remembers it by name.
    pub fn applied(&mut self, agent: &Character, profile: &AgentProfile, avatar: String) {
        self.applied.insert(
            agent.character_id.clone(),
            Applied {
                name: profile.name.clone(),
                avatar,
                description: profile.description.clone(),
            },
        );
        if let Some(by_name) = &mut self.by_name {
            by_name.insert(agent.name.clone(), agent.clone());
        }
        if let Err(e) = self.save() {
            tracing::warn!(file = %self.records.display(), error = %e, "cannot save the agent records; a restart will update the agent once more");
        }
    }

    fn save(&self) -> std::io::Result<()> {
        if let Some(dir) = self.records.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec_pretty(&self.applied).map_err(std::io::Error::other)?;
        crate::fsutil::replace_file(&self.records, &text, 0o644)
    }
}
