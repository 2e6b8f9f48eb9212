//! The stores of one service, by name: which backend each uses, its
//! in-memory copy (`load`, `memory`), and the start-up steps (`clear`,
//! `load`) that need the service id.
//!
//! Built before the service signs in (so a bad database file or an
//! unreachable Redis fails at start-up), then moved to the script thread,
//! where it is used without locks.

use super::embedded::Embedded;
use super::redis::{hash_key, RedisBackend};
use super::view::StoreView;
use super::{Implementation, StoreConfig, StoreError, StoreSpec};
use serde_json::Value;
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

/// A store's data held in memory, by channel.
type Cache = HashMap<String, BTreeMap<String, Value>>;

enum Backend {
    Embedded,
    Memory,
    Redis {
        conn: Box<RedisBackend>,
        namespace: Option<String>,
    },
}

struct Store {
    spec: StoreSpec,
    backend: Backend,
    /// `Some` for memory stores and loaded embedded stores: reads come from here.
    cache: Option<Cache>,
}

pub struct Stores {
    stores: RefCell<Vec<Store>>,
    embedded: OnceCell<Embedded>,
    /// Where the embedded database is (opened on first use when no store of
    /// `db_config` needs it at start).
    embedded_file: PathBuf,
    implicit_memory: bool,
    implicit_embedded: bool,
    /// The service id (the Redis namespace unless a store names its own).
    service_id: RefCell<String>,
}

impl Stores {
    /// No stores at all (every name is an error).
    pub fn none() -> Self {
        Stores {
            stores: RefCell::new(Vec::new()),
            embedded: OnceCell::new(),
            embedded_file: PathBuf::new(),
            implicit_memory: false,
            implicit_embedded: false,
            service_id: RefCell::new(String::new()),
        }
    }

    /// Opens the embedded database (if a store uses it) and connects to
    /// every Redis server named. Touches no store data yet.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let mut embedded = None;
        let mut stores = Vec::new();
        for spec in &config.stores {
            let backend = match &spec.implementation {
                Implementation::Embedded => {
                    if embedded.is_none() {
                        // One file for every embedded store: `clear` on any of
                        // them lets a file that is not a database be replaced.
                        let clear = config
                            .stores
                            .iter()
                            .any(|s| s.implementation == Implementation::Embedded && s.clear);
                        let path = config.embedded_file();
                        embedded = Some(Embedded::open(&path, &spec.name, clear)?);
                    }
                    Backend::Embedded
                }
                Implementation::Memory => Backend::Memory,
                Implementation::Redis { url, namespace } => Backend::Redis {
                    conn: Box::new(RedisBackend::connect(&spec.name, url)?),
                    namespace: namespace.clone(),
                },
            };
            stores.push(Store {
                spec: spec.clone(),
                cache: matches!(backend, Backend::Memory).then(Cache::new),
                backend,
            });
        }
        let cell = OnceCell::new();
        if let Some(db) = embedded {
            let _ = cell.set(db);
        }
        Ok(Stores {
            stores: RefCell::new(stores),
            embedded: cell,
            embedded_file: config.embedded_file(),
            implicit_memory: config.implicit_memory,
            implicit_embedded: config.implicit_embedded,
            service_id: RefCell::new(String::new()),
        })
    }

    /// Start-up, once the service id is known: `clear`, then `load`.
    pub fn start(&self, service_id: &str) -> Result<(), StoreError> {
        *self.service_id.borrow_mut() = service_id.to_string();
        let mut stores = self.stores.borrow_mut();
        for store in stores.iter_mut() {
            let name = store.spec.name.clone();
            match &store.backend {
                Backend::Embedded => {
                    let db = self.db()?;
                    if store.spec.clear {
                        db.clear(&name)?;
                        tracing::info!(store = %name, "store cleared");
                    }
                    if store.spec.load {
                        let all = db.load_all(&name)?;
                        let rows: usize = all.values().map(BTreeMap::len).sum();
                        store.cache = Some(all.into_iter().collect());
                        tracing::info!(store = %name, rows, "store loaded");
                    }
                }
                Backend::Redis { conn, namespace } => {
                    if store.spec.clear {
                        let ns = namespace.as_deref().unwrap_or(service_id);
                        let n = conn.clear(ns)?;
                        tracing::info!(store = %name, channels = n, "store cleared");
                    }
                }
                Backend::Memory => {}
            }
        }
        Ok(())
    }

    fn db(&self) -> Result<&Embedded, StoreError> {
        self.embedded
            .get()
            .ok_or_else(|| StoreError::Other("the embedded database is not open".into()))
    }

    /// Makes every write so far durable (the executor calls it after each
    /// handler, the bridge before anything leaves the host).
    pub fn commit(&self) -> Result<(), StoreError> {
        match self.embedded.get() {
            Some(db) => db.commit(),
            None => Ok(()),
        }
    }

    /// A handle on `name`'s part for `channel_id`. A name `db_config` does
    /// not list is an embedded store under `run` (opening the database on
    /// first use), an in-memory store for in-memory configs, else an error
    /// naming the store.
    pub fn view(self: &Rc<Self>, channel_id: &str, name: &str) -> Result<StoreView, String> {
        if channel_id.is_empty() || channel_id.contains('\x1f') {
            return Err(format!("store: {channel_id:?} is not a channel id"));
        }
        let index = {
            let mut stores = self.stores.borrow_mut();
            match stores.iter().position(|s| s.spec.name == name) {
                Some(i) => i,
                None if self.implicit_embedded && super::config::valid_name(name) => {
                    if self.embedded.get().is_none() {
                        let db = Embedded::open(&self.embedded_file, name, false)
                            .map_err(|e| format!("store {name:?}: {e}"))?;
                        let _ = self.embedded.set(db);
                    }
                    tracing::info!(store = name, file = %self.embedded_file.display(), "store not in db_config: an embedded store");
                    stores.push(Store {
                        spec: StoreSpec {
                            name: name.to_string(),
                            implementation: Implementation::Embedded,
                            load: false,
                            clear: false,
                        },
                        backend: Backend::Embedded,
                        cache: None,
                    });
                    stores.len() - 1
                }
                None if self.implicit_memory && super::config::valid_name(name) => {
                    tracing::info!(store = name, "no db_config here: store kept in memory");
                    stores.push(Store {
                        spec: StoreSpec {
                            name: name.to_string(),
                            implementation: Implementation::Memory,
                            load: true,
                            clear: false,
                        },
                        backend: Backend::Memory,
                        cache: Some(Cache::new()),
                    });
                    stores.len() - 1
                }
                None => {
                    let known: Vec<String> = stores
                        .iter()
                        .map(|s| format!("{:?}", s.spec.name))
                        .collect();
                    return Err(format!(
                        "store {name:?} is not configured (db_config has {})",
                        if known.is_empty() {
                            "no stores".to_string()
                        } else {
                            known.join(", ")
                        }
                    ));
                }
            }
        };
        Ok(StoreView::new(self.clone(), index, channel_id, name))
    }

    /// Runs `f` with the store's backend and in-memory copy.
    pub(super) fn with<T>(
        &self,
        index: usize,
        channel: &str,
        f: impl FnOnce(Access<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut stores = self.stores.borrow_mut();
        let store = stores
            .get_mut(index)
            .ok_or_else(|| StoreError::Other(format!("no store #{index}")))?;
        let name = store.spec.name.clone();
        let target = match (&store.backend, store.cache.as_mut()) {
            (Backend::Redis { conn, namespace }, _) => {
                let sid = self.service_id.borrow();
                let ns = namespace.as_deref().unwrap_or(sid.as_str());
                Target::Redis(conn, hash_key(ns, channel, &name))
            }
            (Backend::Embedded, cache) => Target::Embedded(self.db()?, cache),
            (Backend::Memory, Some(cache)) => Target::Memory(cache),
            (Backend::Memory, None) => {
                return Err(StoreError::Other("memory store without data".into()))
            }
        };
        f(Access {
            store: &name,
            channel,
            target,
        })
    }
}

pub(super) enum Target<'a> {
    Embedded(&'a Embedded, Option<&'a mut Cache>),
    Memory(&'a mut Cache),
    Redis(&'a RedisBackend, String),
}

/// One store, one channel: the operations, whatever the backend.
pub(super) struct Access<'a> {
    pub store: &'a str,
    pub channel: &'a str,
    pub target: Target<'a>,
}

impl Access<'_> {
    pub fn get(self, key: &str) -> Result<Option<Value>, StoreError> {
        match self.target {
            Target::Memory(cache) | Target::Embedded(_, Some(cache)) => {
                Ok(cache.get(self.channel).and_then(|m| m.get(key)).cloned())
            }
            Target::Embedded(db, None) => db.get(self.store, self.channel, key),
            Target::Redis(r, hash) => r.get(&hash, key),
        }
    }

    pub fn set(self, key: &str, value: Value) -> Result<(), StoreError> {
        match self.target {
            Target::Memory(cache) => {
                cache
                    .entry(self.channel.to_string())
                    .or_default()
                    .insert(key.to_string(), value);
                Ok(())
            }
            Target::Embedded(db, cache) => {
                db.set(self.store, self.channel, key, &value)?;
                if let Some(cache) = cache {
                    cache
                        .entry(self.channel.to_string())
                        .or_default()
                        .insert(key.to_string(), value);
                }
                Ok(())
            }
            Target::Redis(r, hash) => r.set(&hash, key, &value),
        }
    }

    pub fn remove(self, key: &str) -> Result<Option<Value>, StoreError> {
        match self.target {
            Target::Memory(cache) => Ok(cache.get_mut(self.channel).and_then(|m| m.remove(key))),
            Target::Embedded(db, cache) => {
                let old = db.remove(self.store, self.channel, key)?;
                if let Some(cache) = cache {
                    return Ok(cache.get_mut(self.channel).and_then(|m| m.remove(key)));
                }
                Ok(old)
            }
            Target::Redis(r, hash) => r.remove(&hash, key),
        }
    }

    pub fn keys(self) -> Result<Vec<String>, StoreError> {
        match self.target {
            Target::Memory(cache) | Target::Embedded(_, Some(cache)) => Ok(cache
                .get(self.channel)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()),
            Target::Embedded(db, None) => db.keys(self.store, self.channel),
            Target::Redis(r, hash) => r.keys(&hash),
        }
    }

    pub fn len(self) -> Result<usize, StoreError> {
        match self.target {
            Target::Memory(cache) | Target::Embedded(_, Some(cache)) => {
                Ok(cache.get(self.channel).map_or(0, BTreeMap::len))
            }
            Target::Embedded(db, None) => Ok(db.keys(self.store, self.channel)?.len()),
            Target::Redis(r, hash) => r.len(&hash),
        }
    }

    pub fn contains(self, key: &str) -> Result<bool, StoreError> {
        match self.target {
            Target::Redis(r, hash) => r.contains(&hash, key),
            other => Access {
                target: other,
                ..self
            }
            .get(key)
            .map(|v| v.is_some()),
        }
    }

    pub fn entries(self) -> Result<BTreeMap<String, Value>, StoreError> {
        match self.target {
            Target::Memory(cache) | Target::Embedded(_, Some(cache)) => {
                Ok(cache.get(self.channel).cloned().unwrap_or_default())
            }
            Target::Embedded(db, None) => db.entries(self.store, self.channel),
            Target::Redis(r, hash) => r.entries(&hash),
        }
    }
}
