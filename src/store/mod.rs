//! Durable service state: named key-value stores (`db_config`), per channel.
//!
//! `this` lives in memory and dies with the process; a store is what a
//! service keeps across restarts (embedded, on disk) or shares between hosts
//! (Redis). Scripts reach a store only through [`crate::script::HostApi`], so
//! the engine never does I/O itself; this module is the host's side.
//!
//! Durability rule: a handler's writes are committed before anything that
//! handler sends leaves the host, and at the latest when the handler returns
//! (the executor calls [`Stores::commit`] after every event). So whatever a
//! member has seen a handler do, that handler's writes survive a `kill -9`.
//!
//! Several script threads share one [`Stores`]; its documentation is where
//! the threading contract is written down.

mod access;
mod config;
mod embedded;
mod overlay;
mod redis;
mod registry;
mod view;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod threads_tests;

pub use config::parse_db_config;
pub use registry::Stores;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Where a store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Implementation {
    /// On disk, in `data/store.redb` of the service directory.
    Embedded,
    /// In this process only (gone at exit).
    Memory,
    /// A Redis server, shared by every host using the same namespace.
    Redis {
        url: String,
        /// Replaces the service id in the keys (`moobius:<namespace>:...`).
        namespace: Option<String>,
    },
}

impl Implementation {
    pub fn label(&self) -> &'static str {
        match self {
            Implementation::Embedded => "embedded",
            Implementation::Memory => "memory",
            Implementation::Redis { .. } => "redis",
        }
    }
}

/// One entry of `db_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    pub name: String,
    pub implementation: Implementation,
    /// Read everything into memory at start-up (embedded; see docs/CONFIG.md for Redis).
    pub load: bool,
    /// Empty the store at start-up.
    pub clear: bool,
}

/// The `db_config` section, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub stores: Vec<StoreSpec>,
    /// Where embedded stores live: `DIR/data`.
    pub data_dir: PathBuf,
    /// Unknown store names get a fresh in-memory store instead of an error
    /// (configs built in memory: `dev`, benchmarks).
    pub implicit_memory: bool,
    /// Unknown store names get an embedded store (a config file's
    /// `db_config`, under `run`): durable without any configuration.
    pub implicit_embedded: bool,
}

impl StoreConfig {
    /// No configured stores; any name a script asks for is an in-memory store.
    pub fn in_memory() -> Self {
        StoreConfig {
            stores: Vec::new(),
            data_dir: PathBuf::from("data"),
            implicit_memory: true,
            implicit_embedded: false,
        }
    }

    /// The embedded database file.
    pub fn embedded_file(&self) -> PathBuf {
        self.data_dir.join(EMBEDDED_FILE)
    }
}

/// The embedded database's file name inside `data/`.
pub const EMBEDDED_FILE: &str = "store.redb";
/// The default Redis server.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store:?}: embedded database {}: {source}", path.display())]
    Open {
        store: String,
        path: PathBuf,
        source: Box<redb::Error>,
    },
    #[error(
        "embedded database {}: {reason}; it was left as it is: delete it to start with empty stores, or set \"clear\": true on an embedded store in db_config",
        path.display()
    )]
    NotADatabase { path: PathBuf, reason: String },
    #[error("embedded database: {0}")]
    Embedded(Box<redb::Error>),
    #[error("store {store:?}: redis at {url}: {source}")]
    Redis {
        store: String,
        url: String,
        source: ::redis::RedisError,
    },
    #[error("{0}")]
    Other(String),
    #[error("store {store:?}: value of {key:?} is not valid JSON: {source}")]
    Corrupt {
        store: String,
        key: String,
        source: serde_json::Error,
    },
}

impl StoreError {
    pub(crate) fn embedded(e: impl Into<redb::Error>) -> Self {
        StoreError::Embedded(Box::new(e.into()))
    }
}

// The stores' locks ignore poisoning. In the `moobius-host` binary a panic
// ends the process, so this matters only to tests and other embedders of
// the library: there, what a lock guards (a map, an `Option`) is changed one
// whole operation at a time, so the next caller finds a usable state, where
// refusing every later call would leave a service unable to read its data.

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
