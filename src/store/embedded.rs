//! The embedded backend: one redb database (`data/store.redb`), one table
//! per store, keys `channel_id \x1f key`, values JSON text.
//!
//! redb is pure Rust, copy-on-write and checksummed: a crash (even `kill -9`
//! mid-commit) leaves the last committed state, never a torn one. Writes go
//! into one open write transaction that [`Embedded::commit`] makes durable;
//! the registry commits before a handler's effects leave the host and after
//! every handler, so a batch of writes costs one fsync instead of one each.

use super::StoreError;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Separates the channel id from the key inside a table.
const SEP: char = '\x1f';

pub struct Embedded {
    db: Database,
    pending: RefCell<Option<WriteTransaction>>,
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
            db: Database::create(path).map_err(|e| failed(e.into()))?,
            pending: RefCell::new(None),
        })
    }

    /// Runs `f` on the open write transaction, starting one if needed.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut pending = self.pending.borrow_mut();
        if pending.is_none() {
            *pending = Some(self.db.begin_write().map_err(StoreError::embedded)?);
        }
        match pending.as_ref() {
            Some(txn) => f(txn),
            None => Err(StoreError::Other("no write transaction".into())),
        }
    }

    /// Makes every write so far durable. Nothing to do without writes.
    pub fn commit(&self) -> Result<(), StoreError> {
        match self.pending.borrow_mut().take() {
            Some(txn) => {
                let started = std::time::Instant::now();
                let done = txn.commit().map_err(StoreError::embedded);
                metrics::counter!(crate::metrics::STORE_COMMITS).increment(1);
                metrics::histogram!(crate::metrics::STORE_COMMIT_DURATION)
                    .record(started.elapsed().as_secs_f64());
                done
            }
            None => Ok(()),
        }
    }

    pub fn set(
        &self,
        store: &str,
        channel: &str,
        key: &str,
        value: &Value,
    ) -> Result<(), StoreError> {
        let text = value.to_string();
        self.write(|txn| {
            let mut t = txn.open_table(def(store)).map_err(StoreError::embedded)?;
            t.insert(full_key(channel, key).as_str(), text.as_str())
                .map_err(StoreError::embedded)?;
            Ok(())
        })
    }

    pub fn remove(
        &self,
        store: &str,
        channel: &str,
        key: &str,
    ) -> Result<Option<Value>, StoreError> {
        self.write(|txn| {
            let mut t = txn.open_table(def(store)).map_err(StoreError::embedded)?;
            let old = t
                .remove(full_key(channel, key).as_str())
                .map_err(StoreError::embedded)?;
            old.map(|g| parse(store, key, g.value())).transpose()
        })
    }

    /// Drops the whole store (every channel).
    pub fn clear(&self, store: &str) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.delete_table(def(store)).map_err(StoreError::embedded)?;
            Ok(())
        })?;
        self.commit()
    }

    /// Reads through the pending transaction when there is one (so a handler
    /// sees its own writes), else from the last committed state.
    fn read<T>(
        &self,
        store: &str,
        f: impl FnOnce(&dyn ReadTable) -> Result<T, StoreError>,
        empty: T,
    ) -> Result<T, StoreError> {
        if let Some(txn) = self.pending.borrow().as_ref() {
            let t = txn.open_table(def(store)).map_err(StoreError::embedded)?;
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
