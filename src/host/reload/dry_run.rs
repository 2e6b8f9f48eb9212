//! The host behind a deploy's dry run of `on_reload`: the new version runs
//! its `on_reload` on a copy of `this` before any thread swaps, so that a
//! version whose `this` migration throws is vetoed while the old version
//! still runs everywhere, untouched.
//!
//! For that run to change nothing outside the copy, every script API call
//! goes through [`DryRunHost`]: what only reads (member lists, profiles,
//! the channel list, message history, files, pending timers, stores) is
//! answered by the real host, so the migration sees what it will see for
//! real; what would change something (sends, agents, channels, timers,
//! requests, downloads, store writes) is accepted and dropped, answered
//! with a placeholder (an id no timer or request has, an agent or channel
//! whose id starts with `dry-run-`) so that the script runs on as it will
//! for real. The copy of `this`, and with it every placeholder, is thrown
//! away after the run; the real `on_reload` runs at the swap, against the
//! real host.

use crate::host::bridge::HostBridge;
use crate::protocol::IdList;
use crate::script::{
    AgentProfile, Character, Downloaded, HostApi, HostResult, KeyValue, NewRequest, NewTimer,
    OutgoingMessage, PendingTimer, UserFrame, ViewUpdate,
};
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;

/// Placeholder ids count down from here, far from any real timer's or
/// request's id (they count up from 1).
const FIRST_PLACEHOLDER: u64 = u64::MAX / 2;

pub(in crate::host) struct DryRunHost {
    real: Rc<HostBridge>,
    next: Cell<u64>,
}

impl DryRunHost {
    pub fn new(real: Rc<HostBridge>) -> Self {
        DryRunHost {
            real,
            next: Cell::new(FIRST_PLACEHOLDER),
        }
    }

    fn placeholder(&self) -> u64 {
        let id = self.next.get();
        self.next.set(id.saturating_sub(1));
        id
    }

    fn agent(&self, profile: &AgentProfile, id: String) -> Character {
        Character {
            character_id: id,
            name: profile.name.clone(),
            avatar: Some(profile.avatar.clone()),
            description: Some(profile.description.clone()),
        }
    }
}

impl HostApi for DryRunHost {
    fn member_ids(&self, channel_id: &str) -> HostResult<Vec<String>> {
        self.real.member_ids(channel_id)
    }
    fn send_characters(&self, _: &str, _: IdList, _: IdList) -> HostResult<()> {
        Ok(())
    }
    fn create_agent(&self, profile: &AgentProfile) -> HostResult<Character> {
        Ok(self.agent(profile, format!("dry-run-agent-{}", self.placeholder())))
    }
    fn fetch_agents(&self) -> HostResult<Vec<Character>> {
        self.real.fetch_agents()
    }
    fn fetch_profiles(&self, ids: Vec<String>) -> HostResult<Vec<Character>> {
        self.real.fetch_profiles(ids)
    }
    fn send_update(&self, _: ViewUpdate) -> HostResult<()> {
        Ok(())
    }
    fn update_channel_info(&self, _: &str, _: Value) -> HostResult<()> {
        Ok(())
    }
    fn send_message(&self, _: OutgoingMessage) -> HostResult<()> {
        Ok(())
    }
    fn check_file(&self, reference: &str) -> HostResult<Option<u64>> {
        self.real.check_file(reference)
    }
    fn update_agent(&self, character_id: &str, profile: &AgentProfile) -> HostResult<Character> {
        Ok(self.agent(profile, character_id.to_string()))
    }
    fn fetch_channel_list(&self) -> HostResult<Value> {
        self.real.fetch_channel_list()
    }
    fn create_channel(&self, _: &str, _: &str) -> HostResult<String> {
        Ok(format!("dry-run-channel-{}", self.placeholder()))
    }
    fn fetch_message_history(&self, channel_id: &str, limit: i64) -> HostResult<Value> {
        self.real.fetch_message_history(channel_id, limit)
    }
    fn download(&self, _: &str, save_as: Option<&str>) -> HostResult<Downloaded> {
        Ok(match save_as {
            Some(name) => Downloaded::Saved(format!("downloads/{name}")),
            None => Downloaded::Bytes(Vec::new()),
        })
    }
    fn start_timer(&self, _: NewTimer) -> HostResult<u64> {
        Ok(self.placeholder())
    }
    fn cancel_timer(&self, id: u64) -> HostResult<bool> {
        // Whether it would have been cancelled; nothing is.
        Ok(self.real.pending_timers()?.iter().any(|t| t.id == id))
    }
    fn pending_timers(&self) -> HostResult<Vec<PendingTimer>> {
        self.real.pending_timers()
    }
    fn timer_missed(&self) -> HostResult<u64> {
        Ok(0)
    }
    fn start_request(&self, _: NewRequest) -> HostResult<u64> {
        Ok(self.placeholder())
    }
    fn send_as_user(&self, _: UserFrame) -> HostResult<()> {
        Ok(())
    }
    fn store(&self, channel_id: &str, name: &str) -> HostResult<Rc<dyn KeyValue>> {
        Ok(Rc::new(ReadOnly(self.real.store(channel_id, name)?)))
    }
}

/// A store whose writes are dropped (reads see the real store).
struct ReadOnly(Rc<dyn KeyValue>);

impl KeyValue for ReadOnly {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn get(&self, key: &str) -> HostResult<Option<Value>> {
        self.0.get(key)
    }
    fn set(&self, _: &str, _: Value) -> HostResult<()> {
        Ok(())
    }
    fn remove(&self, key: &str) -> HostResult<Option<Value>> {
        self.0.get(key)
    }
    fn keys(&self) -> HostResult<Vec<String>> {
        self.0.keys()
    }
    fn len(&self) -> HostResult<usize> {
        self.0.len()
    }
    fn contains(&self, key: &str) -> HostResult<bool> {
        self.0.contains(key)
    }
    fn save(&self) -> HostResult<()> {
        Ok(())
    }
}
