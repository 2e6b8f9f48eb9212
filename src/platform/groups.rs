//! List -> group id conversion with a cache, shared by concurrent lookups.
//!
//! Every `recipients` and every character list travels as a platform-side
//! group id. A group's content never changes, so a list seen once maps to the
//! same id for the life of the process: the key is the ids in order (order
//! and duplicates matter, as in the SDK). Lookups run concurrently (the
//! outbox pipelines them), so the cache holds the *pending* creation too:
//! two events needing the same new list wait for one HTTP call. A failed
//! creation is retried with back-off, then forgotten so a later event can try
//! again. Unlike the SDK, the key separator cannot occur in an id, and a
//! group id is never confused with a list.

use super::{HttpApi, PlatformError};
use crate::protocol::http::GroupEntry;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Pending = Shared<BoxFuture<'static, Result<String, String>>>;

const TRIES: u32 = 8;
/// Bytes of list keys the cache may hold. Large channels make many large,
/// distinct lists (a per-member view of 1,000 members is a 37 KB key); past
/// this budget the cache starts over, which only costs group re-creations.
const KEY_BUDGET: usize = 32 << 20;
const RETRY_DELAY: Duration = Duration::from_millis(25);

pub struct GroupCache {
    http: Arc<HttpApi>,
    by_key: Mutex<HashMap<String, Pending>>,
    key_bytes: std::sync::atomic::AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn key(ids: &[String]) -> String {
    ids.join("\u{1f}")
}

/// An already-resolved entry (polled once, so `peek` sees its value).
fn ready(id: String) -> Pending {
    let p = futures_util::future::ready(Ok(id)).boxed().shared();
    let _ = p.clone().now_or_never();
    p
}

impl GroupCache {
    pub fn new(http: Arc<HttpApi>) -> Self {
        GroupCache {
            http,
            by_key: Mutex::new(HashMap::new()),
            key_bytes: std::sync::atomic::AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The group id for `ids`, creating the group on the platform on a miss.
    pub async fn group_id(&self, ids: &[String]) -> Result<String, PlatformError> {
        let k = key(ids);
        let pending = {
            let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&k) {
                Some(p) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    p.clone()
                }
                None => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    if self.key_bytes.fetch_add(k.len(), Ordering::Relaxed) + k.len() > KEY_BUDGET {
                        tracing::debug!(
                            entries = map.len(),
                            "group cache over its budget; starting over"
                        );
                        map.clear();
                        self.key_bytes.store(k.len(), Ordering::Relaxed);
                    }
                    let (http, list) = (self.http.clone(), ids.to_vec());
                    let p = create(http, list).boxed().shared();
                    map.insert(k.clone(), p.clone());
                    p
                }
            }
        };
        match pending.await {
            Ok(id) => Ok(id),
            Err(reason) => {
                self.by_key
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&k);
                Err(PlatformError::BadResponse {
                    what: "POST /service/group/create".into(),
                    reason,
                })
            }
        }
    }

    /// The cached id for `ids`, if its creation is done (no network).
    pub fn cached(&self, ids: &[String]) -> Option<String> {
        let map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key(ids))
            .and_then(|p| p.peek().cloned())
            .and_then(Result::ok)
    }

    /// Adds groups the platform already knows (start-up prefetch), so lists
    /// seen in a previous run reuse their groups.
    pub fn seed(&self, groups: impl IntoIterator<Item = GroupEntry>) {
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        for g in groups {
            map.entry(key(&g.characters))
                .or_insert_with(|| ready(g.group_id));
        }
    }

    /// (hits, misses) since start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

async fn create(http: Arc<HttpApi>, ids: Vec<String>) -> Result<String, String> {
    let mut delay = RETRY_DELAY;
    let mut tries = 1;
    loop {
        match http.create_service_group(&ids).await {
            Ok(id) => return Ok(id),
            Err(e) if tries < TRIES => {
                tracing::warn!(error = %e, tries, retry_in = ?delay, "creating a group failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                tries += 1;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[tokio::test]
    async fn key_keeps_order_and_cannot_collide_on_underscores() {
        let http = Arc::new(HttpApi::new("http://127.0.0.1:9/", "a@b", Secret::new("p")).unwrap());
        let a = vec!["a_b".to_string(), "c".to_string()];
        let b = vec!["a".to_string(), "b_c".to_string()];
        assert_ne!(key(&a), key(&b));
        let c = GroupCache::new(http);
        c.seed([GroupEntry {
            group_id: "g1".into(),
            characters: a.clone(),
        }]);
        assert_eq!(c.cached(&a).as_deref(), Some("g1"));
        assert_eq!(c.group_id(&a).await.unwrap(), "g1");
        assert_eq!(c.cached(&b), None);
        let rev: Vec<String> = a.iter().rev().cloned().collect();
        assert_eq!(c.cached(&rev), None);
    }
}
