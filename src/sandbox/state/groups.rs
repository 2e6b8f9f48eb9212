//! Group ids (an ordered list of character ids behind an opaque handle),
//! upload keys, and request and frame counters.

use super::{new_id, FrameStats, Group, State, StateError};

impl State {
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

    /// Counts a frame of type `kind` received from a service.
    pub fn count_frame(&mut self, kind: &str, bytes: usize) {
        let stats: &mut FrameStats = self.stats.frames.entry(kind.to_string()).or_default();
        stats.count += 1;
        stats.max_bytes = stats
            .max_bytes
            .max(u64::try_from(bytes).unwrap_or(u64::MAX));
    }
}
