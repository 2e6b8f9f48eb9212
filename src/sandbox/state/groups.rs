//! Group ids (an ordered list of character ids behind an opaque handle),
//! upload keys, and request and frame counters.

use std::collections::HashSet;

use super::{new_id, FrameStats, Group, IdList, State, StateError};

/// `ids` without repeats, first occurrence kept; shares `ids` if it has none.
pub fn unique(ids: &IdList) -> IdList {
    let mut seen = HashSet::with_capacity(ids.len());
    if ids.iter().all(|id| seen.insert(id.as_str())) {
        return ids.clone();
    }
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

impl State {
    /// Registers a new group and counts it.
    pub fn create_group(&mut self, characters: Vec<String>, channel_id: Option<String>) -> String {
        let group_id = new_id();
        let characters: IdList = characters.into();
        self.groups.insert(
            group_id.clone(),
            Group {
                unique: unique(&characters),
                characters,
                channel_id,
            },
        );
        self.group_order.push(group_id.clone());
        self.stats.groups_created += 1;
        group_id
    }

    /// The ids behind a group id; `"service"` is the empty group.
    pub fn expand_group(&self, group_id: &str) -> Result<IdList, StateError> {
        self.group(group_id).map(|g| g.characters.clone())
    }

    /// The ids a frame naming `group_id` reaches: duplicates removed.
    pub fn expand_group_unique(&self, group_id: &str) -> Result<IdList, StateError> {
        self.group(group_id).map(|g| g.unique.clone())
    }

    fn group(&self, group_id: &str) -> Result<&Group, StateError> {
        static EMPTY: std::sync::OnceLock<Group> = std::sync::OnceLock::new();
        if group_id == "service" {
            return Ok(EMPTY.get_or_init(|| {
                let none: IdList = Vec::new().into();
                Group {
                    characters: none.clone(),
                    unique: none,
                    channel_id: None,
                }
            }));
        }
        self.groups
            .get(group_id)
            .ok_or_else(|| StateError::UnknownGroup(group_id.to_string()))
    }

    /// `(group_id, characters)` of the groups created for a channel.
    pub fn groups_of_channel(&self, channel_id: &str) -> Vec<(String, IdList)> {
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
