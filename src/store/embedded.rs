//! The embedded backend: one redb database (`data/store.redb`), one table
//! per store, keys `channel_id \x1f key`, values JSON text.
//!
//! redb is pure Rust, copy-on-write and checksummed: a crash (even `kill -9`
//! mid-commit) leaves the last committed state, never a torn one. A thread's
//! writes go into its open write transaction, which [`Embedded::commit`]
//! makes durable; the registry commits before a handler's effects leave the
//! host and after every handler, so a batch of writes costs one fsync
//! instead of one each.
//!
//! redb has one write transaction at a time (`begin_write` waits for the
//! current one to end), so at most one thread has writes pending: the slot
//! below names its owner, and every other thread reads the committed state.
//! `begin_write` is only ever called with no lock held, since it waits on
//! another script thread's handler. The threading contract as a whole is on
//! [`super::Stores`].

use super::overlay::Overlay;
use super::{lock, StoreError};
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::thread::ThreadId;

/// Separates the channel id from the key inside a table.
const SEP: char = '\x1f';

pub struct Embedded {
    /// The write transaction in progress and the thread whose it is.
    /// Declared before `db`, so dropped (the transaction aborted) first:
    /// dropping a `Database` begins a write transaction of its own.
    pending: Mutex<Option<Pending>>,
    /// Taken before a transaction is committed and released once its
    /// overlay is in the in-memory copies: the next writer cannot commit
    /// before that, so the copies receive commits in commit order.
    commit_order: Mutex<()>,
    db: Database,
}

/// One thread's uncommitted writes.
struct Pending {
    owner: ThreadId,
    txn: WriteTransaction,
    /// Its writes to loaded stores, for the in-memory copies.
    overlay: Overlay,
}

/// The calling thread (cached: `thread::current()` costs more).
fn this_thread() -> ThreadId {
    thread_local!(static ID: ThreadId = std::thread::current().id());
    ID.try_with(|id| *id)
        .unwrap_or_else(|_| std::thread::current().id())
}

fn def(store: &str) -> TableDefinition<'_, &'static str, &'static str> {
    TableDefinition::new(store)
}

fn full_key(channel: &str, key: &str) -> String {
    format!("{channel}{SEP}{key}")
}

fn parse(store: &str, key: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt {
        store: store.into(),
        key: key.into(),
        source,
    })
}

/// The first bytes of every redb database file (redb's header magic).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Why the existing file at `path` is not a redb database (`None` when it is
/// one, or when there is no file). redb takes an empty file for a new
/// database, so a store truncated to 0 bytes (a full disk, a bad copy) would
/// silently start empty and be overwritten.
fn not_a_database(path: &Path) -> std::io::Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Ok(Some(format!(
            "it is {}",
            crate::fsutil::kind(meta.file_type())
        )));
    }
    if meta.len() == 0 {
        return Ok(Some("it is empty (0 bytes)".into()));
    }
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    std::fs::File::open(path)?
        .take(REDB_MAGIC.len() as u64)
        .read_to_end(&mut head)?;
    Ok((head != REDB_MAGIC).then(|| "it is not a redb database".into()))
}

impl Embedded {
    /// Opens (or creates) the database file of `store` (the first store
    /// using it, for messages); its directory is created too. An existing
    /// file that is not a database is refused and left as it is, unless
    /// `replace_invalid` (a store's `clear`) says its content may go.
    pub fn open(path: &Path, store: &str, replace_invalid: bool) -> Result<Self, StoreError> {
        let failed = |e: redb::Error| StoreError::Open {
            store: store.into(),
            path: path.to_path_buf(),
            source: Box::new(e),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed(redb::Error::Io(e)))?;
        }
        if let Some(reason) = not_a_database(path).map_err(|e| failed(redb::Error::Io(e)))? {
            if !replace_invalid {
                return Err(StoreError::NotADatabase {
                    path: path.to_path_buf(),
                    reason,
                });
            }
            tracing::warn!(path = %path.display(), "{reason}: replaced by an empty database (clear is set)");
            std::fs::remove_file(path).map_err(|e| failed(redb::Error::Io(e)))?;
        }
        Ok(Embedded {
            pending: Mutex::new(None),
            commit_order: Mutex::new(()),
            db: Database::create(path).map_err(|e| failed(e.into()))?,
        })
    }

    /// Runs `f` on this thread's write transaction, beginning one if
    /// needed. The slot's lock is held while `f` runs (a few table
    /// operations), never while waiting for the transaction.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Pending) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let me = this_thread();
        if let Some(p) = lock(&self.pending).as_mut().filter(|p| p.owner == me) {
            return f(p);
        }
        // Waits until the thread holding the write transaction commits.
        let txn = self.db.begin_write().map_err(StoreError::embedded)?;
        let mut slot = lock(&self.pending);
        if slot.is_some() {
            return Err(StoreError::Other(
                "the embedded database has two write transactions".into(),
            ));
        }
        f(slot.insert(Pending {
            owner: me,
            txn,
            overlay: Overlay::default(),
        }))
    }

    /// Makes this thread's writes durable, then hands their overlay to
    /// `committed` (for the in-memory copies) before the next writer can
    /// commit. Nothing to do when this thread wrote nothing; another
    /// thread's writes are never touched.
    pub fn commit(&self, committed: impl FnOnce(Overlay)) -> Result<(), StoreError> {
        let me = this_thread();
        let taken = {
            let mut slot = lock(&self.pending);
            match slot.as_ref() {
                Some(p) if p.owner == me => slot.take(),
                _ => None,
            }
        };
        let Some(pending) = taken else {
            return Ok(());
        };
        // Taken while this thread still holds redb's write lock, so whoever
        // writes next finds it taken until `committed` has run.
        let _order = lock(&self.commit_order);
        let started = std::time::Instant::now();
        let done = pending.txn.commit().map_err(StoreError::embedded);
        metrics::counter!(crate::metrics::STORE_COMMITS).increment(1);
        crate::metrics::record_seconds(
            &metrics::histogram!(crate::metrics::STORE_COMMIT_DURATION),
            started.elapsed().as_secs_f64(),
        );
        done?;
        committed(pending.overlay);
        Ok(())
    }

    /// Runs `f` in commit order: no commit's overlay is applied meanwhile
    /// (for `load`, so that no commit falls between its read and its copy).
    pub fn in_commit_order<T>(&self, f: impl FnOnce() -> T) -> T {
        let _order = lock(&self.commit_order);
        f()
    }

    /// This thread's own uncommitted value of `key` in a loaded store:
    /// `Some(None)` when it removed it, `None` when it did not write it.
    pub fn own_write(&self, store: &str, channel: &str, key: &str) -> Option<Option<Value>> {
        let me = this_thread();
        let slot = lock(&self.pending);
        let p = slot.as_ref().filter(|p| p.owner == me)?;
        p.overlay.get(store, channel, key)
    }

    /// This thread's uncommitted changes to one channel of a loaded store.
    pub fn own_changes(&self, store: &str, channel: &str) -> Option<super::overlay::Changes> {
        let me = this_thread();
        let slot = lock(&self.pending);
        let p = slot.as_ref().filter(|p| p.owner == me)?;
        p.overlay.changes(store, channel).cloned()
    }

    /// Writes `key`; `loaded` records it in the overlay too, for the
    /// store's in-memory copy.
    pub fn set(
        &self,
        (store, channel, key): (&str, &str, &str),
        value: Value,
        loaded: bool,
    ) -> Result<(), StoreError> {
        let text = value.to_string();
        self.write(|p| {
            let mut t = p.txn.open_table(def(store)).map_err(StoreError::embedded)?;
            t.insert(full_key(channel, key).as_str(), text.as_str())
                .map_err(StoreError::embedded)?;
            if loaded {
                p.overlay.record(store, channel, key, Some(value));
            }
            Ok(())
        })
    }

    /// Removes `key`, returning the value this thread saw (`loaded` as
    /// for [`Embedded::set`]).
    pub fn remove(
        &self,
        (store, channel, key): (&str, &str, &str),
        loaded: bool,
    ) -> Result<Option<Value>, StoreError> {
        self.write(|p| {
            let mut t = p.txn.open_table(def(store)).map_err(StoreError::embedded)?;
            let old = t
                .remove(full_key(channel, key).as_str())
                .map_err(StoreError::embedded)?;
            let old = old.map(|g| parse(store, key, g.value())).transpose()?;
            if loaded {
                p.overlay.record(store, channel, key, None);
            }
            Ok(old)
        })
    }

    /// Drops the whole store (every channel), in this thread's transaction:
    /// the caller commits.
    pub fn clear(&self, store: &str) -> Result<(), StoreError> {
        self.write(|p| {
            p.txn
                .delete_table(def(store))
                .map_err(StoreError::embedded)?;
            Ok(())
        })
    }

    /// Reads through this thread's write transaction when it has one (so a
    /// handler sees its own writes), else from the last committed state.
    fn read<T>(
        &self,
        store: &str,
        f: impl FnOnce(&dyn ReadTable) -> Result<T, StoreError>,
        empty: T,
    ) -> Result<T, StoreError> {
        let me = this_thread();
        if let Some(p) = lock(&self.pending).as_ref().filter(|p| p.owner == me) {
            let t = p.txn.open_table(def(store)).map_err(StoreError::embedded)?;
            return f(&t);
        }
        let txn = self.db.begin_read().map_err(StoreError::embedded)?;
        match txn.open_table(def(store)) {
            Ok(t) => f(&t),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(empty),
            Err(e) => Err(StoreError::embedded(e)),
        }
    }

    pub fn get(&self, store: &str, channel: &str, key: &str) -> Result<Option<Value>, StoreError> {
        self.read(
            store,
            |t| match t.text(&full_key(channel, key))? {
                Some(text) => parse(store, key, &text).map(Some),
                None => Ok(None),
            },
            None,
        )
    }

    /// Every key and value of one channel's part of a store, in key order.
    pub fn entries(
        &self,
        store: &str,
        channel: &str,
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        let prefix = full_key(channel, "");
        self.read(
            store,
            |t| {
                t.prefixed(&prefix)?
                    .into_iter()
                    .map(|(k, text)| {
                        let v = parse(store, &k, &text)?;
                        Ok((k, v))
                    })
                    .collect()
            },
            BTreeMap::new(),
        )
    }

    pub fn keys(&self, store: &str, channel: &str) -> Result<Vec<String>, StoreError> {
        let prefix = full_key(channel, "");
        self.read(
            store,
            |t| Ok(t.prefixed(&prefix)?.into_iter().map(|(k, _)| k).collect()),
            Vec::new(),
        )
    }

    /// The whole store, by channel (for `load`).
    pub fn load_all(
        &self,
        store: &str,
    ) -> Result<BTreeMap<String, BTreeMap<String, Value>>, StoreError> {
        self.read(
            store,
            |t| {
                let mut all: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
                for (full, text) in t.prefixed("")? {
                    let Some((channel, key)) = full.split_once(SEP) else {
                        continue;
                    };
                    let v = parse(store, key, &text)?;
                    all.entry(channel.to_string())
                        .or_default()
                        .insert(key.to_string(), v);
                }
                Ok(all)
            },
            BTreeMap::new(),
        )
    }
}

/// The reads shared by read-only and write-transaction tables.
trait ReadTable {
    fn text(&self, full_key: &str) -> Result<Option<String>, StoreError>;
    /// `(key without prefix, value text)` for every key starting with `prefix`.
    fn prefixed(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError>;
}

impl<T> ReadTable for T
where
    T: ReadableTable<&'static str, &'static str>,
{
    fn text(&self, full_key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(full_key)
            .map_err(StoreError::embedded)?
            .map(|g| g.value().to_string()))
    }

    fn prefixed(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for row in self.range(prefix..).map_err(StoreError::embedded)? {
            let (k, v) = row.map_err(StoreError::embedded)?;
            let Some(rest) = k.value().strip_prefix(prefix) else {
                break;
            };
            out.push((rest.to_string(), v.value().to_string()));
        }
        Ok(out)
    }
}
