//! List -> group id conversion with a cache.
//!
//! Every `recipients` and every character list travels as a platform-side
//! group id. A group's content never changes, so a list seen once maps to the
//! same id for the life of the process: the key is the ids in order (order
//! and duplicates matter, as in the SDK). Unlike the SDK, a separator that
//! cannot occur in an id is used, and the cache never confuses a group id
//! with a list.

use super::{HttpApi, PlatformError};
use crate::protocol::http::GroupEntry;
use std::collections::HashMap;

#[derive(Default)]
pub struct GroupCache {
    by_key: HashMap<String, String>,
    hits: u64,
    misses: u64,
}

fn key(ids: &[String]) -> String {
    ids.join("\u{1f}")
}

impl GroupCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The group id for `ids`, creating the group on the platform on a miss.
    pub async fn group_id(
        &mut self,
        http: &HttpApi,
        ids: &[String],
    ) -> Result<String, PlatformError> {
        let k = key(ids);
        if let Some(id) = self.by_key.get(&k) {
            self.hits += 1;
            return Ok(id.clone());
        }
        let id = http.create_service_group(ids).await?;
        self.misses += 1;
        self.by_key.insert(k, id.clone());
        Ok(id)
    }

    /// The cached id for `ids`, if any (no network).
    pub fn cached(&self, ids: &[String]) -> Option<&str> {
        self.by_key.get(&key(ids)).map(String::as_str)
    }

    /// Adds groups the platform already knows (start-up prefetch), so lists
    /// seen in a previous run reuse their groups.
    pub fn seed(&mut self, groups: impl IntoIterator<Item = GroupEntry>) {
        for g in groups {
            self.by_key.entry(key(&g.characters)).or_insert(g.group_id);
        }
    }

    /// (hits, misses) since start.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_keeps_order_and_cannot_collide_on_underscores() {
        let a = vec!["a_b".to_string(), "c".to_string()];
        let b = vec!["a".to_string(), "b_c".to_string()];
        assert_ne!(key(&a), key(&b));
        let mut c = GroupCache::new();
        c.seed([GroupEntry {
            group_id: "g1".into(),
            characters: a.clone(),
        }]);
        assert_eq!(c.cached(&a), Some("g1"));
        assert_eq!(c.cached(&b), None);
        let rev: Vec<String> = a.iter().rev().cloned().collect();
        assert_eq!(c.cached(&rev), None);
    }
}
