//! The Redis backend: one HASH per (namespace, channel, store) at
//! `moobius:<namespace>:<channel_id>:<store>`, field = key, value = JSON.
//!
//! Plain synchronous connections: a write returns once Redis has
//! acknowledged it, so it is done before the handler returns. Every call has
//! a timeout (a handler blocked in Redis cannot be interrupted): at most
//! [`REDIS_CALL`], and never longer than the running handler has left of its
//! budget. A broken connection is re-opened once per call.
//!
//! Script threads share the backend: a call takes an idle connection (or
//! opens one) and puts it back when done, so no lock is held while Redis
//! answers and one thread's slow call never delays another's. There are as
//! many connections as threads have called at the same time, one with a
//! single script thread.

use super::{lock, StoreError};
use crate::timeouts::REDIS_CALL;
use redis::{Client, Commands, Connection, RedisResult};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct RedisBackend {
    store: String,
    /// The URL without its password, for errors and logs.
    shown_url: String,
    client: Client,
    /// Connections no call is using.
    idle: Mutex<Vec<Connection>>,
}

/// The hash holding one channel's part of a store.
pub fn hash_key(namespace: &str, channel: &str, store: &str) -> String {
    format!("moobius:{namespace}:{channel}:{store}")
}

impl RedisBackend {
    /// Checks the URL and that the server answers (so a wrong URL fails at
    /// start-up, before the service signs in).
    pub fn connect(store: &str, url: &str) -> Result<Self, StoreError> {
        let shown_url = crate::config::shown_url(url);
        let backend = RedisBackend {
            store: store.to_string(),
            shown_url: shown_url.clone(),
            client: Client::open(url).map_err(|e| StoreError::Redis {
                store: store.into(),
                url: shown_url,
                source: e,
            })?,
            idle: Mutex::new(Vec::new()),
        };
        backend.call(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(backend)
    }

    fn err(&self, source: redis::RedisError) -> StoreError {
        StoreError::Redis {
            store: self.store.clone(),
            url: self.shown_url.clone(),
            source,
        }
    }

    fn open(&self, timeout: Duration) -> RedisResult<Connection> {
        self.client.get_connection_with_timeout(timeout)
    }

    /// How long this call may wait: [`REDIS_CALL`], or less when the running
    /// handler has less time left (an error once it has none).
    fn time_allowed(&self) -> Result<Duration, StoreError> {
        match crate::script::remaining_budget() {
            Some((left, budget)) if left < REDIS_CALL => {
                if left.is_zero() {
                    let why = format!(
                        "store {:?}: no answer within the handler's time budget ({} ms, script_limits.timeout_ms)",
                        self.store,
                        budget.as_millis()
                    );
                    crate::script::abort_handler(&why);
                    return Err(StoreError::Other(why));
                }
                Ok(left)
            }
            _ => Ok(REDIS_CALL),
        }
    }

    /// Runs `f` on a connection of its own, reconnecting once if it was
    /// dropped. A connection that failed (or timed out: an answer may still
    /// be on its way) is not reused.
    fn call<T>(&self, f: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T, StoreError> {
        let mut held = lock(&self.idle).pop();
        for attempt in 0..2 {
            let allowed = match self.time_allowed() {
                Ok(allowed) => allowed,
                Err(e) => {
                    self.put_back(held);
                    return Err(e);
                }
            };
            let conn = match held.as_mut() {
                Some(c) => c,
                None => held.insert(self.open(allowed).map_err(|e| self.err(e))?),
            };
            conn.set_read_timeout(Some(allowed))
                .and_then(|()| conn.set_write_timeout(Some(allowed)))
                .map_err(|e| self.err(e))?;
            match f(conn) {
                Ok(v) => {
                    self.put_back(held);
                    return Ok(v);
                }
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    if attempt == 1 {
                        return Err(self.err(e));
                    }
                    tracing::warn!(store = %self.store, error = %e, "redis connection lost; reconnecting");
                    held = None;
                }
                Err(e) => {
                    self.put_back(held);
                    return Err(self.err(e));
                }
            }
        }
        Err(StoreError::Other(format!(
            "store {:?}: redis unreachable",
            self.store
        )))
    }

    fn put_back(&self, conn: Option<Connection>) {
        if let Some(conn) = conn {
            lock(&self.idle).push(conn);
        }
    }

    fn parse(&self, key: &str, text: &str) -> Result<Value, StoreError> {
        serde_json::from_str(text).map_err(|source| StoreError::Corrupt {
            store: self.store.clone(),
            key: key.into(),
            source,
        })
    }

    pub fn get(&self, hash: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self.call(|c| c.hget(hash, key))?;
        text.map(|t| self.parse(key, &t)).transpose()
    }

    pub fn set(&self, hash: &str, key: &str, value: &Value) -> Result<(), StoreError> {
        let text = value.to_string();
        self.call(|c| c.hset::<_, _, _, ()>(hash, key, &text))
    }

    pub fn remove(&self, hash: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let (old, _): (Option<String>, i64) = self.call(|c| {
            redis::pipe()
                .atomic()
                .hget(hash, key)
                .hdel(hash, key)
                .query(c)
        })?;
        old.map(|t| self.parse(key, &t)).transpose()
    }

    pub fn keys(&self, hash: &str) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = self.call(|c| c.hkeys(hash))?;
        keys.sort();
        Ok(keys)
    }

    pub fn len(&self, hash: &str) -> Result<usize, StoreError> {
        self.call(|c| c.hlen(hash))
    }

    pub fn contains(&self, hash: &str, key: &str) -> Result<bool, StoreError> {
        self.call(|c| c.hexists(hash, key))
    }

    pub fn entries(&self, hash: &str) -> Result<BTreeMap<String, Value>, StoreError> {
        let all: BTreeMap<String, String> = self.call(|c| c.hgetall(hash))?;
        all.into_iter()
            .map(|(k, t)| {
                let v = self.parse(&k, &t)?;
                Ok((k, v))
            })
            .collect()
    }

    /// Deletes the store's hash in every channel of `namespace`.
    pub fn clear(&self, namespace: &str) -> Result<usize, StoreError> {
        let pattern = hash_key(namespace, "*", &self.store);
        let suffix = format!(":{}", self.store);
        let keys: Vec<String> = self.call(|c| {
            c.scan_match::<_, String>(&pattern)?
                .filter(|k| k.as_ref().map_or(true, |k| k.ends_with(&suffix)))
                .collect()
        })?;
        for chunk in keys.chunks(512) {
            self.call(|c| c.del::<_, ()>(chunk))?;
        }
        Ok(keys.len())
    }
}
