//! What `store(channel_id, name)` hands a script: one store, one channel.
//! The script API sees it as a [`KeyValue`]; errors become script errors
//! that name the store.

use super::registry::{Access, Stores};
use super::StoreError;
use crate::script::KeyValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Clone)]
pub struct StoreView {
    stores: Rc<Stores>,
    index: usize,
    channel: String,
    name: String,
}

impl StoreView {
    pub(super) fn new(stores: Rc<Stores>, index: usize, channel: &str, name: &str) -> Self {
        StoreView {
            stores,
            index,
            channel: channel.to_string(),
            name: name.to_string(),
        }
    }

    fn run<T>(
        &self,
        what: &str,
        f: impl FnOnce(Access<'_>) -> Result<T, StoreError>,
    ) -> Result<T, String> {
        self.stores
            .with(self.index, &self.channel, f)
            .map_err(|e| format!("store {:?} ({}): {what}: {e}", self.name, self.channel))
    }

    /// Every key and value, in key order.
    pub fn entries(&self) -> Result<BTreeMap<String, Value>, String> {
        self.run("entries", |a| a.entries())
    }
}

impl KeyValue for StoreView {
    fn describe(&self) -> String {
        format!("store {:?} of {}", self.name, self.channel)
    }
    fn get(&self, key: &str) -> Result<Option<Value>, String> {
        self.run("get", |a| a.get(key))
    }
    fn set(&self, key: &str, value: Value) -> Result<(), String> {
        self.run("set", |a| a.set(key, value))
    }
    fn remove(&self, key: &str) -> Result<Option<Value>, String> {
        self.run("remove", |a| a.remove(key))
    }
    fn keys(&self) -> Result<Vec<String>, String> {
        self.run("keys", |a| a.keys())
    }
    fn len(&self) -> Result<usize, String> {
        self.run("len", |a| a.len())
    }
    fn contains(&self, key: &str) -> Result<bool, String> {
        self.run("contains", |a| a.contains(key))
    }
    fn save(&self) -> Result<(), String> {
        self.stores
            .commit()
            .map_err(|e| format!("store {:?}: save: {e}", self.name))
    }
}
