//! The stores of one service, by name: which backend each uses, its
//! in-memory copy (`load`, `memory`), and the start-up steps (`clear`,
//! `load`) that need the service id.
//!
//! Built before the service signs in (so a bad database file or an
//! unreachable Redis fails at start-up), then shared by the script threads
//! as an `Arc<Stores>`. The contract they follow is on [`Stores`].

use super::access::{Access, Target};
use super::config::valid_name;
use super::embedded::Embedded;
use super::overlay::{self, Cache, Overlay};
use super::redis::{hash_key, RedisBackend};
use super::view::StoreView;
use super::{lock, read, write, Implementation, StoreConfig, StoreError, StoreSpec};
use crate::script::{HostCallError, HostResult};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

pub(super) enum Backend {
    Embedded,
    Memory,
    Redis {
        conn: Box<RedisBackend>,
        namespace: Option<String>,
    },
}

pub(super) struct Store {
    pub spec: StoreSpec,
    pub backend: Backend,
    /// `Some` for memory stores and loaded embedded stores: reads come from
    /// here. An embedded store's copy holds its committed state only.
    pub cache: RwLock<Option<Cache>>,
}

/// A service's stores, shared by its script threads as `Arc<Stores>`.
///
/// The threading contract (this is its one home):
///
/// - Any thread may use any store at any time. A store `db_config` does not
///   list is created once, however many threads ask for it at the same
///   moment.
/// - Memory and Redis stores have no transactions: a write is seen by
///   every thread as soon as it returns (Redis: once the server has
///   acknowledged it).
/// - Embedded writes belong to the thread that makes them until that
///   thread calls [`Stores::commit`], which commits that thread's writes,
///   and only those, atomically and durably (one fsync). Until then that
///   thread reads its own writes, and every other thread reads the last
///   committed state (a loaded store's copy too).
/// - redb has one write transaction at a time, so a thread's first embedded
///   write of a handler waits until the thread holding the transaction
///   commits: handlers that write the embedded database run one after the
///   other, while those that only read it, or use other stores, do not
///   wait. The wait cannot be interrupted and lasts at most about one
///   handler's time budget. Hence a thread commits before it blocks on
///   anything another script thread might be waiting for (the bridge
///   commits before every send and network wait, the executor after every
///   handler), and before it stops: a thread that ends with writes pending
///   keeps every other writer waiting, and its writes are lost when the
///   `Stores` drops.
/// - Handlers are not isolated from each other: two handlers on different
///   threads that read a key and then write it (`s["n"] = (s["n"] ?? 0) +
///   1`) can both read the old value, so one update is lost, as with a
///   Redis store two hosts share. Only a part that several threads use is
///   concerned (`store("global", ...)`, or another thread's channel).
/// - No lock that a store operation takes is held across a Redis call or a
///   wait for the write transaction. The commit-order lock is held across
///   an fsync, but only the next committer waits on it; `start` holds its
///   own while it runs. Poisoned locks are taken over (see `lock` in
///   `src/store/mod.rs`).
/// - [`Stores::start`] runs once: a later call, from any thread, waits for
///   the first to finish and does nothing more.
pub struct Stores {
    /// A view keeps its store (an `Arc`), not a position in this list.
    stores: RwLock<Vec<Arc<Store>>>,
    embedded: OnceLock<Embedded>,
    /// Held while the embedded database is opened on first use.
    opening: Mutex<()>,
    /// Where the embedded database is (opened on first use when no store of
    /// `db_config` needs it at start).
    embedded_file: PathBuf,
    implicit_memory: bool,
    implicit_embedded: bool,
    /// The service id (the Redis namespace unless a store names its own).
    service_id: OnceLock<String>,
    /// Whether `start` has run; held while it runs.
    started: Mutex<bool>,
}

/// `Stores` is shared between threads: checked at compile time.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Stores>();
};

impl Stores {
    /// No stores at all (every name is an error).
    pub fn none() -> Self {
        Self::with(
            Vec::new(),
            None,
            &StoreConfig {
                stores: Vec::new(),
                data_dir: PathBuf::new(),
                implicit_memory: false,
                implicit_embedded: false,
            },
        )
    }

    fn with(stores: Vec<Store>, db: Option<Embedded>, config: &StoreConfig) -> Self {
        let embedded = OnceLock::new();
        if let Some(db) = db {
            let _ = embedded.set(db);
        }
        Stores {
            stores: RwLock::new(stores.into_iter().map(Arc::new).collect()),
            embedded,
            opening: Mutex::new(()),
            embedded_file: config.embedded_file(),
            implicit_memory: config.implicit_memory,
            implicit_embedded: config.implicit_embedded,
            service_id: OnceLock::new(),
            started: Mutex::new(false),
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
                cache: RwLock::new(matches!(backend, Backend::Memory).then(Cache::new)),
                backend,
            });
        }
        Ok(Self::with(stores, embedded, config))
    }

    /// Start-up, once the service id is known: `clear`, then `load`.
    pub fn start(&self, service_id: &str) -> Result<(), StoreError> {
        // A thread waiting on `started` below must not hold the write
        // transaction that the first caller's `clear` waits for.
        self.commit()?;
        let mut started = lock(&self.started);
        if *started {
            return Ok(());
        }
        let _ = self.service_id.set(service_id.to_string());
        let stores = read(&self.stores).clone();
        for store in &stores {
            self.start_one(store, service_id)?;
        }
        *started = true;
        Ok(())
    }

    fn start_one(&self, store: &Store, service_id: &str) -> Result<(), StoreError> {
        let name = &store.spec.name;
        match &store.backend {
            Backend::Embedded => {
                let db = self.db()?;
                if store.spec.clear {
                    db.clear(name)?;
                    self.commit()?;
                    tracing::info!(store = %name, "store cleared");
                }
                if store.spec.load {
                    // In commit order, so no commit falls between the read
                    // and the copy taking its place.
                    let rows = db.in_commit_order(|| -> Result<usize, StoreError> {
                        let all = db.load_all(name)?;
                        let rows = all.values().map(BTreeMap::len).sum();
                        *write(&store.cache) = Some(all.into_iter().collect());
                        Ok(rows)
                    })?;
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
        Ok(())
    }

    fn db(&self) -> Result<&Embedded, StoreError> {
        self.embedded
            .get()
            .ok_or_else(|| StoreError::Other("the embedded database is not open".into()))
    }

    /// Makes the calling thread's writes durable (the executor calls it
    /// after each handler, the bridge before anything leaves the host).
    /// Other threads' writes are left pending.
    pub fn commit(&self) -> Result<(), StoreError> {
        match self.embedded.get() {
            Some(db) => db.commit(|committed| self.apply(committed)),
            None => Ok(()),
        }
    }

    /// Committed writes into the loaded stores' copies.
    fn apply(&self, committed: Overlay) {
        let stores = read(&self.stores);
        for (name, channel, changes) in committed.into_parts() {
            if let Some(store) = stores.iter().find(|s| s.spec.name == name) {
                if let Some(copy) = write(&store.cache).as_mut() {
                    overlay::apply(copy, channel, changes);
                }
            }
        }
    }

    /// A handle on `name`'s part for `channel_id`. A name `db_config` does
    /// not list is an embedded store under `run` (opening the database on
    /// first use), an in-memory store for in-memory configs, else an error
    /// naming the store.
    pub fn view(self: &Arc<Self>, channel_id: &str, name: &str) -> HostResult<StoreView> {
        if channel_id.is_empty() || channel_id.contains('\x1f') {
            return Err(HostCallError::Refused(format!(
                "store: {channel_id:?} is not a channel id"
            )));
        }
        let known = read(&self.stores)
            .iter()
            .find(|s| s.spec.name == name)
            .cloned();
        let store = match known {
            Some(store) => store,
            None => self.implicit(name).map_err(|e| match e {
                Implicit::NotConfigured(why) => HostCallError::Refused(why),
                Implicit::Unopened(e) => HostCallError::StoreOp {
                    store: name.to_string(),
                    channel: channel_id.to_string(),
                    op: "open",
                    source: Box::new(e),
                },
            })?,
        };
        Ok(StoreView::new(self.clone(), store, channel_id, name))
    }

    /// The store `db_config` does not list, created on first use: once,
    /// whichever thread asks first.
    fn implicit(&self, name: &str) -> Result<Arc<Store>, Implicit> {
        let embedded = if self.implicit_embedded && valid_name(name) {
            true
        } else if self.implicit_memory && valid_name(name) {
            false
        } else {
            return Err(Implicit::NotConfigured(self.not_configured(name)));
        };
        if embedded {
            self.open_embedded(name).map_err(Implicit::Unopened)?;
        }
        let mut stores = write(&self.stores);
        if let Some(store) = stores.iter().find(|s| s.spec.name == name) {
            return Ok(store.clone()); // another thread was first
        }
        if embedded {
            tracing::info!(store = name, file = %self.embedded_file.display(), "store not in db_config: an embedded store");
        } else {
            tracing::info!(store = name, "no db_config here: store kept in memory");
        }
        let store = Arc::new(Store {
            spec: StoreSpec {
                name: name.to_string(),
                implementation: if embedded {
                    Implementation::Embedded
                } else {
                    Implementation::Memory
                },
                load: !embedded,
                clear: false,
            },
            backend: if embedded {
                Backend::Embedded
            } else {
                Backend::Memory
            },
            cache: RwLock::new((!embedded).then(Cache::new)),
        });
        stores.push(store.clone());
        Ok(store)
    }

    /// Opens the embedded database if nobody has yet.
    fn open_embedded(&self, name: &str) -> Result<&Embedded, StoreError> {
        if let Some(db) = self.embedded.get() {
            return Ok(db);
        }
        let _opening = lock(&self.opening);
        if let Some(db) = self.embedded.get() {
            return Ok(db);
        }
        let db = Embedded::open(&self.embedded_file, name, false)?;
        Ok(self.embedded.get_or_init(|| db))
    }

    fn not_configured(&self, name: &str) -> String {
        let known: Vec<String> = read(&self.stores)
            .iter()
            .map(|s| format!("{:?}", s.spec.name))
            .collect();
        format!(
            "store {name:?} is not configured (db_config has {})",
            if known.is_empty() {
                "no stores".to_string()
            } else {
                known.join(", ")
            }
        )
    }

    /// The names of the stores held, in order (tests: one per name).
    #[cfg(test)]
    pub(super) fn names(&self) -> Vec<String> {
        read(&self.stores)
            .iter()
            .map(|s| s.spec.name.clone())
            .collect()
    }

    /// The operations on one store's part for one channel.
    pub(super) fn access<'a>(
        &'a self,
        store: &'a Store,
        channel: &'a str,
    ) -> Result<Access<'a>, StoreError> {
        let target = match &store.backend {
            Backend::Redis { conn, namespace } => {
                let service_id = self.service_id.get().map_or("", String::as_str);
                let ns = namespace.as_deref().unwrap_or(service_id);
                Target::Redis(conn, hash_key(ns, channel, &store.spec.name))
            }
            Backend::Embedded => Target::Embedded(self.db()?, &store.cache),
            Backend::Memory => Target::Memory(&store.cache),
        };
        Ok(Access {
            store: &store.spec.name,
            channel,
            target,
        })
    }
}

/// Why a store `db_config` does not list cannot be had.
enum Implicit {
    /// Only listed stores may be used here: the reason, naming those.
    NotConfigured(String),
    /// The embedded database could not be opened.
    Unopened(StoreError),
}
