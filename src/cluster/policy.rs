//! The one Redis setting a cluster cannot run without: a `maxmemory-policy`
//! that never evicts.
//!
//! The cluster's safety rests on keys Redis must keep until the cluster
//! deletes them or their own time to live ends: the fence counters (a
//! counter evicted starts again from 1, so a new holder gets a token an
//! old one already had), the leases, the streams and their pending
//! entries, the append marks (`append.rs`). A run on `allkeys-lru` saw the
//! fences evicted, three gateways serving at once for 1.2 s and a fifth of
//! the messages lost.
//!
//! Only `noeviction` is accepted. Every `allkeys-*` policy may evict any
//! key. A `volatile-*` policy evicts only keys with a time to live, but
//! ours that have one are exactly those whose early loss is unsafe: a
//! lease evicted before its time lets a second holder in while the first
//! still acts by its own clock (`Held::valid`), and an append mark evicted
//! lets a retried batch be appended twice. So no `volatile-*` policy is
//! safe either, and the rule is the simplest one: `noeviction`, under
//! which a full Redis refuses writes (the cluster retries them) rather
//! than forgetting what it holds.
//!
//! A node checks at start (it refuses to join: exit status 1, one line)
//! and before each attempt to become the gateway (it stays a worker and
//! says why), since the setting can change while it runs.

use super::conn::RedisConn;
use super::ClusterError;
use std::sync::Arc;

/// The only policy a cluster runs on.
pub const REQUIRED: &str = "noeviction";

/// Reads Redis's `maxmemory-policy` and refuses any other than
/// [`REQUIRED`].
pub fn check(conn: &RedisConn) -> Result<(), ClusterError> {
    let policy = read(conn)?;
    if policy == REQUIRED {
        return Ok(());
    }
    Err(ClusterError::EvictingPolicy {
        url: conn.shown_url().to_string(),
        policy,
    })
}

/// The check before each attempt at the gateway lease: a node that
/// finds Redis evicting stays a worker (the others refuse too, so nobody
/// serves until the setting is fixed; that is the point). Says so once,
/// and once more when it is fixed. A Redis error (slow, away) says nothing
/// about the policy: the node stays a worker for that tick (no lease can
/// be won without Redis anyway) and asks again at the next, with a warning
/// once per run of errors.
pub struct ElectionCheck {
    conn: Arc<RedisConn>,
    /// The policy read last was an evicting one (or could not be told).
    refused: bool,
    /// The last check could not reach Redis.
    unread: bool,
}

impl ElectionCheck {
    pub fn new(conn: Arc<RedisConn>) -> Self {
        ElectionCheck {
            conn,
            refused: false,
            unread: false,
        }
    }

    /// True when this node may try to become the gateway.
    pub fn allows(&mut self) -> bool {
        match check(&self.conn) {
            Ok(()) => {
                self.unread = false;
                if self.refused {
                    tracing::info!("cluster: Redis no longer evicts; standing for gateway again");
                }
                self.refused = false;
                true
            }
            Err(e @ ClusterError::Redis { .. }) => {
                if !self.unread {
                    tracing::warn!(error = %e, "cluster: cannot read Redis's maxmemory-policy; not standing for gateway this tick, asking again at the next");
                }
                self.unread = true;
                false
            }
            Err(e) => {
                self.unread = false;
                if !self.refused {
                    tracing::error!(error = %e, "cluster: not standing for gateway");
                }
                self.refused = true;
                false
            }
        }
    }
}

/// `CONFIG GET maxmemory-policy`, or `INFO memory`'s `maxmemory_policy`
/// where `CONFIG` is disabled or renamed (managed Redis services often do).
fn read(conn: &RedisConn) -> Result<String, ClusterError> {
    let mut config = redis::cmd("CONFIG");
    config.arg("GET").arg("maxmemory-policy");
    if let Ok(pairs) = conn.query::<Vec<String>>(&config) {
        if let [name, value] = pairs.as_slice() {
            if name == "maxmemory-policy" {
                return Ok(value.clone());
            }
        }
    }
    let mut info = redis::cmd("INFO");
    info.arg("memory");
    let text: String = conn.query(&info)?;
    policy_in_info(&text).ok_or_else(|| ClusterError::PolicyUnknown {
        url: conn.shown_url().to_string(),
    })
}

/// The `maxmemory_policy:` line of an `INFO memory` answer.
fn policy_in_info(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("maxmemory_policy:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_read_from_info_memory() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:1\r\n";
        assert_eq!(policy_in_info(info).as_deref(), Some("allkeys-lru"));
        assert_eq!(policy_in_info("# Memory\r\nused_memory:1\r\n"), None);
    }

    #[test]
    fn a_redis_error_is_not_taken_for_an_evicting_policy() {
        // A port nobody listens on: every query fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let url = format!("redis://127.0.0.1:{port}");
        let conn = RedisConn::open(&url, std::time::Duration::from_secs(1)).unwrap();
        let mut election = ElectionCheck::new(Arc::new(conn));
        assert!(!election.allows(), "no gateway without reading the policy");
        assert!(
            !election.refused,
            "a Redis error says nothing of the policy"
        );
        assert!(election.unread);
    }
}
