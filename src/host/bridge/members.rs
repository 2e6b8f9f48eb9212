//! The host's member table: each channel's members, in join order.
//!
//! Loaded from the platform when a channel is initialised, updated on
//! join/leave before the script's handler runs, and replaced by a fresh copy
//! from the platform at every checkin. `fetch_member_ids` answers from here,
//! so a handler never waits on the network to know who is in the channel.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct MemberTable {
    channels: HashMap<String, Vec<String>>,
}

impl MemberTable {
    pub fn get(&self, channel_id: &str) -> Option<&[String]> {
        self.channels.get(channel_id).map(Vec::as_slice)
    }

    pub fn replace(&mut self, channel_id: &str, members: Vec<String>) {
        self.channels.insert(channel_id.to_string(), members);
    }

    /// Adds a member at the end unless already present.
    pub fn join(&mut self, channel_id: &str, member: &str) {
        let list = self.channels.entry(channel_id.to_string()).or_default();
        if !list.iter().any(|m| m == member) {
            list.push(member.to_string());
        }
    }

    /// Members per channel.
    pub fn counts(&self) -> std::collections::BTreeMap<String, usize> {
        self.channels
            .iter()
            .map(|(c, m)| (c.clone(), m.len()))
            .collect()
    }

    pub fn leave(&mut self, channel_id: &str, member: &str) {
        if let Some(list) = self.channels.get_mut(channel_id) {
            list.retain(|m| m != member);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_is_idempotent_and_keeps_order() {
        let mut t = MemberTable::default();
        t.replace("c", vec!["a".into()]);
        t.join("c", "b");
        t.join("c", "a");
        assert_eq!(t.get("c").unwrap(), ["a", "b"]);
        t.leave("c", "a");
        assert_eq!(t.get("c").unwrap(), ["b"]);
        t.leave("nowhere", "a");
        assert!(t.get("nowhere").is_none());
    }
}
