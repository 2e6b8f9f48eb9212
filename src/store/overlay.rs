//! A thread's uncommitted writes to loaded embedded stores.
//!
//! A loaded store is read from its in-memory copy, which holds the committed
//! state only: another script thread must not see (and send to a member)
//! writes that a crash could still undo. So a write goes into the thread's
//! write transaction and into its overlay; the thread's own reads look in
//! the overlay first (it reads its own writes), and once the transaction is
//! committed the overlay is applied to the copy.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A store's data held in memory, by channel.
pub type Cache = HashMap<String, BTreeMap<String, Value>>;

/// One channel's changes: `None` is a removal.
pub type Changes = BTreeMap<String, Option<Value>>;

/// One store's part for one channel, as this thread changed it.
struct Part {
    store: String,
    channel: String,
    changes: Changes,
}

/// A list, not a map: a handler changes few parts, often the same one many
/// times in a row, and comparing two short names costs less than hashing
/// them on every write (the last part written is looked at first).
#[derive(Default)]
pub struct Overlay(Vec<Part>);

impl Overlay {
    fn position(&self, store: &str, channel: &str) -> Option<usize> {
        let is = |p: &Part| p.store == store && p.channel == channel;
        match self.0.last() {
            Some(last) if is(last) => Some(self.0.len() - 1),
            _ => self.0.iter().position(is),
        }
    }

    pub fn record(&mut self, store: &str, channel: &str, key: &str, value: Option<Value>) {
        let at = match self.position(store, channel) {
            Some(at) => at,
            None => {
                self.0.push(Part {
                    store: store.to_string(),
                    channel: channel.to_string(),
                    changes: Changes::new(),
                });
                self.0.len() - 1
            }
        };
        // Keeps the part written last at the end.
        let last = self.0.len() - 1;
        self.0.swap(at, last);
        if let Some(part) = self.0.last_mut() {
            part.changes.insert(key.to_string(), value);
        }
    }

    /// `Some` when this thread wrote `key`: its value, or `None` if removed.
    pub fn get(&self, store: &str, channel: &str, key: &str) -> Option<Option<Value>> {
        self.changes(store, channel)?.get(key).cloned()
    }

    pub fn changes(&self, store: &str, channel: &str) -> Option<&Changes> {
        let at = self.position(store, channel)?;
        self.0.get(at).map(|p| &p.changes)
    }

    /// `(store, channel, changes)`, once committed.
    pub fn into_parts(self) -> impl Iterator<Item = (String, String, Changes)> {
        self.0.into_iter().map(|p| (p.store, p.channel, p.changes))
    }
}

/// Applies one channel's committed changes to a store's copy.
pub fn apply(cache: &mut Cache, channel: String, changes: Changes) {
    let rows = cache.entry(channel).or_default();
    for (key, value) in changes {
        match value {
            Some(v) => rows.insert(key, v),
            None => rows.remove(&key),
        };
    }
}

/// One channel's rows as this thread sees them: the committed ones with its
/// own changes on top.
pub fn entries(
    committed: Option<&BTreeMap<String, Value>>,
    changes: Option<&Changes>,
) -> BTreeMap<String, Value> {
    let mut rows = committed.cloned().unwrap_or_default();
    for (key, value) in changes.into_iter().flatten() {
        match value {
            Some(v) => rows.insert(key.clone(), v.clone()),
            None => rows.remove(key),
        };
    }
    rows
}

/// The keys of [`entries`], without copying the values.
pub fn keys(committed: Option<&BTreeMap<String, Value>>, changes: Option<&Changes>) -> Vec<String> {
    let Some(changes) = changes else {
        return committed
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
    };
    let mut keys: std::collections::BTreeSet<&String> =
        committed.into_iter().flat_map(BTreeMap::keys).collect();
    for (key, value) in changes {
        match value {
            Some(_) => keys.insert(key),
            None => keys.remove(key),
        };
    }
    keys.into_iter().cloned().collect()
}

/// The length of [`entries`].
pub fn len(committed: Option<&BTreeMap<String, Value>>, changes: Option<&Changes>) -> usize {
    let base = committed.map_or(0, BTreeMap::len);
    let Some(changes) = changes else { return base };
    changes.iter().fold(base, |n, (key, value)| {
        let had = committed.is_some_and(|m| m.contains_key(key));
        match (had, value.is_some()) {
            (false, true) => n + 1,
            (true, false) => n.saturating_sub(1),
            _ => n,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn the_last_write_of_each_part_wins_and_lies_over_the_committed_rows() {
        let mut o = Overlay::default();
        o.record("s", "a", "k", Some(json!(1)));
        o.record("s", "b", "k", Some(json!(2)));
        o.record("t", "a", "k", Some(json!(3)));
        o.record("s", "a", "k", Some(json!(4)));
        o.record("s", "a", "gone", None);
        assert_eq!(o.get("s", "a", "k"), Some(Some(json!(4))));
        assert_eq!(o.get("s", "b", "k"), Some(Some(json!(2))));
        assert_eq!(o.get("t", "a", "k"), Some(Some(json!(3))));
        assert_eq!(o.get("t", "b", "k"), None);
        assert_eq!(o.get("s", "a", "gone"), Some(None));

        let committed = rows(&[("gone", json!(0)), ("x", json!(0))]);
        let seen = rows(&[("k", json!(4)), ("x", json!(0))]);
        let changes = o.changes("s", "a");
        assert_eq!(keys(Some(&committed), changes), ["k", "x"]);
        assert_eq!(len(Some(&committed), changes), 2);
        assert_eq!(entries(Some(&committed), changes), seen);
        assert_eq!(len(None, o.changes("s", "b")), 1);

        let mut copy = Cache::from([("a".to_string(), committed)]);
        for (store, channel, changes) in o.into_parts() {
            if store == "s" {
                apply(&mut copy, channel, changes);
            }
        }
        assert_eq!(copy["a"], seen);
        assert_eq!(copy["b"], rows(&[("k", json!(2))]));
    }
}
