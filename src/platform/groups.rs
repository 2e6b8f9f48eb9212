//! List -> group id conversion with a cache, shared by concurrent lookups.
//!
//! Every `recipients` and every character list travels as a platform-side
//! group id. A group's content never changes, so a list seen once maps to the
//! same id for the life of the process: the key is the ids in order (order
//! and duplicates matter, as in the SDK). Lookups run concurrently (the
//! outbox pipelines them), so the cache holds the *pending* creation too:
//! two events needing the same new list wait for one HTTP call. A failed
//! creation is retried with back-off, then forgotten so a later event can try
//! again. Unlike the SDK, ids cannot run together in a key, and a group id is
//! never confused with a list.
//!
//! A key is a 128-bit digest of the list (XXH3-128 under a secret drawn at
//! start-up), not the list itself: a per-member view of a 1,000-member
//! channel is a 37 KB list, and keeping and SipHashing those as keys cost
//! more than the rest of the host. Two lists share a key with probability
//! 2^-128, and without the secret no input can aim at a collision.

use super::{HttpApi, PlatformError};
use crate::protocol::http::GroupEntry;
use crate::protocol::IdList;
use crate::retry::Backoff;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use xxhash_rust::xxh3::Xxh3Builder;

/// A creation every caller asking for the same list waits on; its error is
/// shared between them.
type Pending = Shared<BoxFuture<'static, Result<String, Arc<PlatformError>>>>;

const TRIES: u32 = 8;
/// Lists the cache remembers. Large channels make many large, distinct,
/// short-lived lists (every join changes every member's view); past this the
/// cache starts over, which only costs group re-creations. The sandbox keeps
/// more groups than this (`GroupBounds`), for the reason given at [`MAX_IDS`].
pub const MAX_ENTRIES: usize = 100_000;
/// Ids the cache's lists hold at most, summed. The cache keeps only a digest
/// per list, so this bound is not about the host's memory but the
/// platform's: a platform may forget groups nobody used for a while (the
/// sandbox forgets the least recently used past its own bound), and a group
/// id the host still holds would then be refused. Two full rounds of views
/// in a channel of 1,000 members (2,000 lists of ~1,000 ids) and a fourth
/// more, so a service whose views go back and forth (a member joins and
/// leaves) keeps hitting;
/// the sandbox keeps at least this many (`GroupBounds`), so it never forgets
/// a group a lone host may still send.
pub const MAX_IDS: usize = 2_500_000;

/// Offsets hashed per `update` call in [`GroupCache::key`] (a 512-byte
/// buffer on the stack).
const KEY_BLOCK: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ListKey(u128);

pub struct GroupCache {
    http: Arc<HttpApi>,
    hasher: Xxh3Builder,
    by_key: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The cached lists and how many ids they hold (bounded by [`MAX_ENTRIES`]
/// and [`MAX_IDS`]).
#[derive(Default)]
struct Entries {
    map: HashMap<ListKey, (Pending, usize)>,
    ids: usize,
}

impl Entries {
    /// Adds an entry for a list of `len` ids, starting over first if it
    /// would pass a bound.
    fn insert(&mut self, key: ListKey, pending: Pending, len: usize) {
        if self.map.len() >= MAX_ENTRIES || self.ids + len > MAX_IDS {
            tracing::debug!(
                entries = self.map.len(),
                ids = self.ids,
                "group cache full; starting over"
            );
            self.map.clear();
            self.ids = 0;
            metrics::gauge!(crate::metrics::GROUP_CACHE_BYTES).set(0.0);
        }
        if let Some((_, old)) = self.map.insert(key, (pending, len)) {
            self.ids -= old;
        }
        self.ids += len;
    }

    fn remove(&mut self, key: &ListKey) {
        if let Some((_, len)) = self.map.remove(key) {
            self.ids -= len;
        }
    }
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
            hasher: {
                // XXH3's secret size (the crate does not export the constant).
                let mut secret = [0u8; 192];
                rand::fill(&mut secret[..]);
                Xxh3Builder::new()
                    .with_seed(rand::random())
                    .with_secret(secret)
            },
            by_key: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The ids' text and their end offsets: `["a_b", "c"]` and
    /// `["a", "b_c"]` share the text but not the offsets.
    fn key(&self, ids: &IdList) -> ListKey {
        let (text, ends) = ids.parts();
        let mut h = self.hasher.build();
        h.update(&(ends.len() as u64).to_le_bytes());
        // The offsets go in by the block: XXH3's streaming `update` has a
        // fixed cost per call that one call per id made the larger part.
        let mut block = [0u8; 8 * KEY_BLOCK];
        for chunk in ends.chunks(KEY_BLOCK) {
            for (slot, end) in block.chunks_exact_mut(8).zip(chunk) {
                slot.copy_from_slice(&(*end as u64).to_le_bytes());
            }
            h.update(&block[..8 * chunk.len()]);
        }
        h.update(text.as_bytes());
        ListKey(h.digest128())
    }

    /// The group id for `ids`, creating the group on the platform on a miss.
    pub async fn group_id(&self, ids: &IdList) -> Result<String, PlatformError> {
        let k = self.key(ids);
        let pending = {
            let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
            match map.map.get(&k) {
                Some((p, _)) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::CACHE_HITS.add("");
                    p.clone()
                }
                None => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(crate::metrics::GROUP_CACHE_MISSES).increment(1);
                    let p = create(self.http.clone(), ids.clone()).boxed().shared();
                    map.insert(k, p.clone(), ids.len());
                    p
                }
            }
        };
        match pending.await {
            Ok(id) => Ok(id),
            Err(e) => {
                self.by_key
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&k);
                Err(PlatformError::Shared(e))
            }
        }
    }

    /// The cached id for `ids`, if its creation is done (no network).
    pub fn cached(&self, ids: &IdList) -> Option<String> {
        let k = self.key(ids);
        let map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        map.map
            .get(&k)
            .and_then(|(p, _)| p.peek().cloned())
            .and_then(Result::ok)
    }

    /// Adds groups the platform already knows (start-up prefetch), so lists
    /// seen in a previous run reuse their groups.
    pub fn seed(&self, groups: impl IntoIterator<Item = GroupEntry>) {
        let keyed: Vec<(ListKey, String, usize)> = groups
            .into_iter()
            .map(|g| {
                let len = g.characters.len();
                (self.key(&IdList::from(g.characters)), g.group_id, len)
            })
            .collect();
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        for (k, id, len) in keyed {
            if !map.map.contains_key(&k) {
                map.insert(k, ready(id), len);
            }
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

async fn create(http: Arc<HttpApi>, ids: IdList) -> Result<String, Arc<PlatformError>> {
    let mut backoff = Backoff::PLATFORM_CALL;
    let mut tries = 1;
    loop {
        match http.create_service_group(&ids).await {
            Ok(id) => {
                // The entry: a 16-byte key and the id.
                let bytes = (16 + id.len()) as f64;
                metrics::gauge!(crate::metrics::GROUP_CACHE_BYTES).increment(bytes);
                return Ok(id);
            }
            Err(e) if tries < TRIES => {
                let delay = backoff.next();
                tracing::warn!(error = %e, tries, retry_in = ?delay, "creating a group failed; retrying");
                tokio::time::sleep(delay).await;
                tries += 1;
            }
            Err(e) => return Err(Arc::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn the_cache_starts_over_before_its_lists_pass_max_ids() {
        let mut entries = Entries::default();
        entries.insert(ListKey(1), ready("g1".into()), MAX_IDS - 10);
        entries.insert(ListKey(2), ready("g2".into()), 10);
        assert_eq!((entries.map.len(), entries.ids), (2, MAX_IDS));
        entries.insert(ListKey(3), ready("g3".into()), 1);
        assert_eq!((entries.map.len(), entries.ids), (1, 1));
        entries.remove(&ListKey(3));
        entries.remove(&ListKey(3));
        assert_eq!((entries.map.len(), entries.ids), (0, 0));
    }

    #[tokio::test]
    async fn key_keeps_order_and_cannot_collide_on_underscores() {
        let http = Arc::new(HttpApi::new("http://127.0.0.1:9/", "a@b", Secret::new("p")).unwrap());
        let a: IdList = ["a_b", "c"].into_iter().collect();
        let b: IdList = ["a", "b_c"].into_iter().collect();
        let c = GroupCache::new(http);
        assert_ne!(c.key(&a), c.key(&b));
        assert_eq!(
            c.key(&a),
            c.key(&vec!["a_b".to_string(), "c".to_string()].into())
        );
        c.seed([GroupEntry {
            group_id: "g1".into(),
            characters: a.to_vec(),
        }]);
        assert_eq!(c.cached(&a).as_deref(), Some("g1"));
        assert_eq!(c.group_id(&a).await.unwrap(), "g1");
        assert_eq!(c.cached(&b), None);
        let rev: IdList = ["c", "a_b"].into_iter().collect();
        assert_eq!(c.cached(&rev), None);
    }
}
