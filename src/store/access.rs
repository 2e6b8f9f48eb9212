//! One store, one channel: the operations, whatever the backend.
//!
//! Memory stores are read and written under their copy's lock. A loaded
//! embedded store is read from its copy (the committed state) with the
//! calling thread's own uncommitted changes on top (see `overlay.rs`), and
//! written through the thread's write transaction; one that is not loaded
//! is read and written through redb alone. Redis is called with no lock
//! held. The lock order is a copy's lock, then the embedded database's
//! slot (briefly, to read this thread's changes); nothing takes them the
//! other way round.

use super::embedded::Embedded;
use super::overlay::{self, Cache, Changes};
use super::redis::RedisBackend;
use super::{read, write, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::RwLock;

type Rows = BTreeMap<String, Value>;

pub(super) enum Target<'a> {
    /// The database, and the store's copy (`None` inside when not loaded).
    Embedded(&'a Embedded, &'a RwLock<Option<Cache>>),
    Memory(&'a RwLock<Option<Cache>>),
    /// The connection and the channel's hash.
    Redis(&'a RedisBackend, String),
}

pub(super) struct Access<'a> {
    pub store: &'a str,
    pub channel: &'a str,
    pub target: Target<'a>,
}

fn no_data() -> StoreError {
    StoreError::Other("memory store without data".into())
}

impl Access<'_> {
    /// `f` on a memory store's rows for this channel.
    fn memory<T>(
        &self,
        cache: &RwLock<Option<Cache>>,
        f: impl FnOnce(Option<&Rows>) -> T,
    ) -> Result<T, StoreError> {
        let copy = read(cache);
        let cache = copy.as_ref().ok_or_else(no_data)?;
        Ok(f(cache.get(self.channel)))
    }

    /// `f` on a loaded embedded store's committed rows for this channel and
    /// this thread's changes to them; `None` when the store is not loaded.
    fn loaded<T>(
        &self,
        db: &Embedded,
        cache: &RwLock<Option<Cache>>,
        f: impl FnOnce(Option<&Rows>, Option<&Changes>) -> T,
    ) -> Option<T> {
        let copy = read(cache);
        let rows = copy.as_ref()?.get(self.channel);
        let own = db.own_changes(self.store, self.channel);
        Some(f(rows, own.as_ref()))
    }

    fn is_loaded(cache: &RwLock<Option<Cache>>) -> bool {
        read(cache).is_some()
    }

    pub fn get(self, key: &str) -> Result<Option<Value>, StoreError> {
        match self.target {
            Target::Memory(cache) => {
                self.memory(cache, |rows| rows.and_then(|m| m.get(key)).cloned())
            }
            Target::Embedded(db, cache) => {
                let guard = read(cache);
                let Some(copy) = guard.as_ref() else {
                    return db.get(self.store, self.channel, key);
                };
                if let Some(own) = db.own_write(self.store, self.channel, key) {
                    return Ok(own);
                }
                Ok(copy.get(self.channel).and_then(|m| m.get(key)).cloned())
            }
            Target::Redis(r, hash) => r.get(&hash, key),
        }
    }

    pub fn set(self, key: &str, value: Value) -> Result<(), StoreError> {
        match self.target {
            Target::Memory(cache) => {
                let mut copy = write(cache);
                copy.as_mut()
                    .ok_or_else(no_data)?
                    .entry(self.channel.to_string())
                    .or_default()
                    .insert(key.to_string(), value);
                Ok(())
            }
            Target::Embedded(db, cache) => {
                let loaded = Self::is_loaded(cache);
                db.set((self.store, self.channel, key), value, loaded)
            }
            Target::Redis(r, hash) => r.set(&hash, key, &value),
        }
    }

    pub fn remove(self, key: &str) -> Result<Option<Value>, StoreError> {
        match self.target {
            Target::Memory(cache) => {
                let mut copy = write(cache);
                let cache = copy.as_mut().ok_or_else(no_data)?;
                Ok(cache.get_mut(self.channel).and_then(|m| m.remove(key)))
            }
            Target::Embedded(db, cache) => {
                let loaded = Self::is_loaded(cache);
                db.remove((self.store, self.channel, key), loaded)
            }
            Target::Redis(r, hash) => r.remove(&hash, key),
        }
    }

    pub fn keys(self) -> Result<Vec<String>, StoreError> {
        match self.target {
            Target::Memory(cache) => self.memory(cache, |rows| overlay::keys(rows, None)),
            Target::Embedded(db, cache) => match self.loaded(db, cache, overlay::keys) {
                Some(keys) => Ok(keys),
                None => db.keys(self.store, self.channel),
            },
            Target::Redis(r, hash) => r.keys(&hash),
        }
    }

    pub fn len(self) -> Result<usize, StoreError> {
        match self.target {
            Target::Memory(cache) => self.memory(cache, |rows| overlay::len(rows, None)),
            Target::Embedded(db, cache) => match self.loaded(db, cache, overlay::len) {
                Some(n) => Ok(n),
                None => Ok(db.keys(self.store, self.channel)?.len()),
            },
            Target::Redis(r, hash) => r.len(&hash),
        }
    }

    pub fn contains(self, key: &str) -> Result<bool, StoreError> {
        match self.target {
            Target::Redis(r, hash) => r.contains(&hash, key),
            _ => self.get(key).map(|v| v.is_some()),
        }
    }

    pub fn entries(self) -> Result<Rows, StoreError> {
        match self.target {
            Target::Memory(cache) => self.memory(cache, |rows| overlay::entries(rows, None)),
            Target::Embedded(db, cache) => match self.loaded(db, cache, overlay::entries) {
                Some(rows) => Ok(rows),
                None => db.entries(self.store, self.channel),
            },
            Target::Redis(r, hash) => r.entries(&hash),
        }
    }
}
