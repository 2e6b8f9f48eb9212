//! What `store(channel_id, name)` hands a script: one store, one channel.
//! The script API sees it as a [`KeyValue`]; errors become script errors
//! that name the store.

use super::access::Access;
use super::registry::{Store, Stores};
use super::StoreError;
use crate::script::{HostCallError, HostResult, KeyValue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct StoreView {
    stores: Arc<Stores>,
    store: Arc<Store>,
    channel: String,
    name: String,
}

impl StoreView {
    pub(super) fn new(stores: Arc<Stores>, store: Arc<Store>, channel: &str, name: &str) -> Self {
        StoreView {
            stores,
            store,
            channel: channel.to_string(),
            name: name.to_string(),
        }
    }

    fn run<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(Access<'_>) -> Result<T, StoreError>,
    ) -> HostResult<T> {
        metrics::counter!(crate::metrics::STORE_OPERATIONS, "op" => op).increment(1);
        self.stores
            .access(&self.store, &self.channel)
            .and_then(f)
            .map_err(|e| self.failed(op, e))
    }

    fn failed(&self, op: &'static str, e: StoreError) -> HostCallError {
        HostCallError::StoreOp {
            store: self.name.clone(),
            channel: self.channel.clone(),
            op,
            source: Box::new(e),
        }
    }

    /// Every key and value, in key order.
    pub fn entries(&self) -> HostResult<BTreeMap<String, Value>> {
        self.run("entries", |a| a.entries())
    }
}

impl KeyValue for StoreView {
    fn describe(&self) -> String {
        format!("store {:?} of {}", self.name, self.channel)
    }
    fn get(&self, key: &str) -> HostResult<Option<Value>> {
        self.run("get", |a| a.get(key))
    }
    fn set(&self, key: &str, value: Value) -> HostResult<()> {
        self.run("set", |a| a.set(key, value))
    }
    fn remove(&self, key: &str) -> HostResult<Option<Value>> {
        self.run("remove", |a| a.remove(key))
    }
    fn keys(&self) -> HostResult<Vec<String>> {
        self.run("keys", |a| a.keys())
    }
    fn len(&self) -> HostResult<usize> {
        self.run("len", |a| a.len())
    }
    fn contains(&self, key: &str) -> HostResult<bool> {
        self.run("contains", |a| a.contains(key))
    }
    /// Commits the calling thread's writes (see [`Stores`]).
    fn save(&self) -> HostResult<()> {
        self.stores.commit().map_err(|e| self.failed("save", e))
    }
}
