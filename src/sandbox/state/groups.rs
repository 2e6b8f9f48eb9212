//! Group ids (an ordered list of character ids behind an opaque handle),
//! upload keys, and request and frame counters.
//!
//! The group store is bounded, because the sandbox is long-lived (`dev`, the
//! benchmark) and groups are made by the thousand: in a channel of 1,000
//! members every join makes 1,000 new lists of 1,001 ids (each member's own
//! view), and a store that kept every group grew the benchmark's process by
//! about 150 MB/s in its join wave. So the store keeps one id per distinct
//! list (a service that asks again for a list it had gets the same id back,
//! as the platform reuses its group ids), and past [`GroupBounds`] it
//! forgets the group least recently created, asked for again, named in a
//! frame or looked up. A forgotten id is unknown from then on (40004, and a
//! frame naming it is dropped with a warning), like any id the sandbox never
//! made. What a user's view shows is kept by the view itself, so forgetting
//! a group changes no view.

use std::collections::{BTreeMap, HashMap, HashSet};

use foldhash::quality::RandomState as ListHasher;

use super::{new_id, FrameStats, Group, IdList, State, StateError};

/// How much the group store keeps at most; past either figure the least
/// recently used groups are forgotten. The defaults are a tenth more than a
/// host's group cache remembers (`MAX_ENTRIES` and `MAX_IDS` in
/// `src/platform/groups.rs`, re-exported as `platform::GROUP_CACHE_MAX_LISTS`
/// and `GROUP_CACHE_MAX_IDS`: two rounds of views in a 1,000-member channel),
/// so the sandbox never forgets a group a lone host may still send: with
/// one round's worth, a member joining and leaving in turn (the benchmark's
/// W3) made the host reuse the leave's lists after the join's had pushed
/// them out, and their views were dropped. At about 72 bytes an id: some
/// 200 MB at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupBounds {
    /// Groups kept at most.
    pub max_groups: usize,
    /// Ids kept at most, summed over the groups' lists.
    pub max_ids: usize,
}

impl Default for GroupBounds {
    fn default() -> Self {
        Self {
            max_groups: 110_000,
            max_ids: 2_750_000,
        }
    }
}

/// A list and the channel it was made for: what one group id stands for.
type ListKey = (Option<String>, IdList);

/// The groups, by id and by list, with their order of last use. Lists are
/// keyed with foldhash rather than the standard SipHash: a 1,000-member
/// channel's join makes 1,001 lists of 1,001 ids, and hashing them with
/// SipHash was the largest single cost of the benchmark's W3 (the host's
/// fan-out waits on these creations).
#[derive(Debug, Default)]
pub struct GroupStore {
    by_id: HashMap<String, Group>,
    by_list: HashMap<ListKey, String, ListHasher>,
    /// Last use -> group id, least recent first.
    by_use: BTreeMap<u64, String>,
    ids_held: usize,
    clock: u64,
    bounds: GroupBounds,
}

impl GroupStore {
    pub fn new(bounds: GroupBounds) -> Self {
        Self {
            bounds,
            ..Self::default()
        }
    }

    /// The id of this list for this channel: the one it had, or a new one.
    fn create(&mut self, characters: IdList, channel_id: Option<String>) -> String {
        let key = (channel_id, characters);
        if let Some(id) = self.by_list.get(&key).cloned() {
            self.touch(&id);
            return id;
        }
        let (channel_id, characters) = key;
        let group_id = new_id();
        self.clock += 1;
        self.ids_held += characters.len();
        self.by_list
            .insert((channel_id.clone(), characters.clone()), group_id.clone());
        self.by_use.insert(self.clock, group_id.clone());
        self.by_id.insert(
            group_id.clone(),
            Group {
                unique: None,
                characters,
                channel_id,
                created: self.clock,
                used: self.clock,
            },
        );
        self.forget_least_recent();
        group_id
    }

    /// Marks a group as just used.
    fn touch(&mut self, group_id: &str) {
        let Some(group) = self.by_id.get_mut(group_id) else {
            return;
        };
        if let Some(id) = self.by_use.remove(&group.used) {
            self.clock += 1;
            group.used = self.clock;
            self.by_use.insert(self.clock, id);
        }
    }

    /// Forgets the least recently used groups until both bounds hold (the
    /// newest group is kept even if it alone is over).
    fn forget_least_recent(&mut self) {
        while (self.by_id.len() > self.bounds.max_groups || self.ids_held > self.bounds.max_ids)
            && self.by_id.len() > 1
        {
            let Some((_, id)) = self.by_use.pop_first() else {
                return;
            };
            if let Some(group) = self.by_id.remove(&id) {
                self.ids_held -= group.characters.len();
                self.by_list.remove(&(group.channel_id, group.characters));
            }
        }
    }

    fn get(&self, group_id: &str) -> Result<&Group, StateError> {
        static EMPTY: std::sync::OnceLock<Group> = std::sync::OnceLock::new();
        if group_id == "service" {
            return Ok(EMPTY.get_or_init(|| {
                let none = IdList::default();
                Group {
                    characters: none.clone(),
                    unique: Some(none),
                    channel_id: None,
                    created: 0,
                    used: 0,
                }
            }));
        }
        self.by_id
            .get(group_id)
            .ok_or_else(|| StateError::UnknownGroup(group_id.to_string()))
    }

    /// A group's ids without repeats, made on first use and kept.
    fn unique_of(&mut self, group_id: &str) -> Result<IdList, StateError> {
        match self.by_id.get_mut(group_id) {
            Some(group) => Ok(group
                .unique
                .get_or_insert_with(|| unique(&group.characters))
                .clone()),
            None => Ok(self.get(group_id)?.characters.clone()),
        }
    }

    /// Groups and ids held now.
    pub fn held(&self) -> (usize, usize) {
        (self.by_id.len(), self.ids_held)
    }
}

/// `ids` without repeats, first occurrence kept; shares `ids` if it has none.
pub fn unique(ids: &IdList) -> IdList {
    let mut seen = HashSet::with_capacity_and_hasher(ids.len(), ListHasher::default());
    if ids.iter().all(|id| seen.insert(id)) {
        return ids.clone();
    }
    let mut seen = HashSet::with_capacity_and_hasher(ids.len(), ListHasher::default());
    ids.iter().filter(|id| seen.insert(*id)).collect()
}

impl State {
    /// The group id of a list (new, or the one this list already had) and
    /// counts the creation.
    pub fn create_group(
        &mut self,
        characters: impl Into<IdList>,
        channel_id: Option<String>,
    ) -> String {
        let group_id = self.groups.create(characters.into(), channel_id);
        self.stats.groups_created += 1;
        let (groups, ids) = self.groups.held();
        self.stats.groups_held = groups as u64;
        self.stats.group_ids_held = ids as u64;
        group_id
    }

    /// The ids behind a group id, which counts as a use of the group;
    /// `"service"` is the empty group.
    pub fn expand_group(&mut self, group_id: &str) -> Result<IdList, StateError> {
        let ids = self.groups.get(group_id)?.characters.clone();
        self.groups.touch(group_id);
        Ok(ids)
    }

    /// The ids a frame naming `group_id` reaches, duplicates removed; a use
    /// of the group.
    pub fn expand_group_unique(&mut self, group_id: &str) -> Result<IdList, StateError> {
        let ids = self.groups.unique_of(group_id)?;
        self.groups.touch(group_id);
        Ok(ids)
    }

    /// The ids behind a group id, without counting it as a use (reading
    /// history).
    pub fn peek_group(&self, group_id: &str) -> Result<IdList, StateError> {
        self.groups.get(group_id).map(|g| g.characters.clone())
    }

    /// `(group_id, characters)` of the groups created for a channel, in the
    /// order they were created.
    pub fn groups_of_channel(&self, channel_id: &str) -> Vec<(String, IdList)> {
        let mut found: Vec<(u64, String, IdList)> = self
            .groups
            .by_id
            .iter()
            .filter(|(_, g)| g.channel_id.as_deref() == Some(channel_id))
            .map(|(id, g)| (g.created, id.clone(), g.characters.clone()))
            .collect();
        found.sort_unstable_by_key(|(created, _, _)| *created);
        found
            .into_iter()
            .map(|(_, id, characters)| (id, characters))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bounds_keep_whatever_a_host_may_still_send() {
        let bounds = GroupBounds::default();
        assert!(bounds.max_groups >= crate::platform::GROUP_CACHE_MAX_LISTS);
        assert!(bounds.max_ids >= crate::platform::GROUP_CACHE_MAX_IDS);
    }

    fn ids(n: usize, tag: &str) -> Vec<String> {
        (0..n).map(|i| format!("{tag}{i}")).collect()
    }

    #[test]
    fn the_least_recently_used_group_goes_first() {
        let mut state = State::with_group_bounds(GroupBounds {
            max_groups: 3,
            max_ids: 100,
        });
        let a = state.create_group(ids(2, "a"), None);
        let b = state.create_group(ids(2, "b"), None);
        let c = state.create_group(ids(2, "c"), None);
        assert!(state.expand_group_unique(&a).is_ok());
        let d = state.create_group(ids(2, "d"), None);
        assert_eq!(
            state.expand_group(&b),
            Err(StateError::UnknownGroup(b.clone()))
        );
        for kept in [&a, &c, &d] {
            assert!(state.expand_group(kept).is_ok(), "{kept} kept");
        }
        // The same list again is the same group.
        assert_eq!(state.create_group(ids(2, "d"), None), d);
        assert_ne!(state.create_group(ids(2, "d"), Some("ch".into())), d);
        assert_eq!(state.groups.held(), (3, 6));
    }

    #[test]
    fn ids_are_bounded_too() {
        let mut state = State::with_group_bounds(GroupBounds {
            max_groups: 100,
            max_ids: 10,
        });
        for k in 0..20 {
            state.create_group(ids(4, &format!("k{k}-")), None);
            assert!(state.groups.held().1 <= 10);
        }
        assert_eq!(state.groups.held(), (2, 8));
        // A list over the bound on its own is still kept, alone.
        let big = state.create_group(ids(11, "big"), None);
        assert_eq!(state.expand_group(&big).map(|l| l.len()), Ok(11));
        assert_eq!(state.groups.held(), (1, 11));
    }
}
