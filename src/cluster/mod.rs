//! Running one service as several processes with Redis between them (see
//! `docs/CLUSTER.md` for the design, the failure cases and the limits).
//!
//! Nothing here is home-made distribution: who does what is decided by
//! leases in Redis ([`lease`]), each with a fencing token that only grows,
//! so that a process that lost its lease (paused, partitioned) can be told
//! apart from the one that holds it now; events and frames travel through
//! Redis Streams with consumer groups ([`streams`]), whose pending-entry
//! lists and claiming carry them across a node's loss.
//!
//! The module knows Redis and the platform's wire shapes, not Rhai: the
//! host joins it to the script threads (`host::node`). Every role
//! runs on a thread of its own with a blocking connection ([`conn`]), and
//! acts only while [`roles::Fences`] says it holds the role.

pub mod append;
pub mod conn;
pub mod consumer;
pub mod deploy;
pub mod down;
pub mod lease;
pub mod nodes;
pub mod partitions;
pub mod policy;
pub mod relay;
pub mod report;
pub mod roles;
pub mod streams;
pub mod takeover;
pub mod up;
pub mod wire;

/// A client for the cluster's Redis, and its URL without the password (for
/// errors and logs). Nothing is sent yet.
fn open(url: &str) -> Result<(redis::Client, String), ClusterError> {
    let shown_url = crate::config::shown_url(url);
    let client = redis::Client::open(url).map_err(|source| ClusterError::Redis {
        url: shown_url.clone(),
        source,
    })?;
    Ok((client, shown_url))
}

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Redis at {url}: {source}")]
    Redis {
        /// The URL without its password.
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis answered a lease request with something unexpected: {0}")]
    Unexpected(String),
    #[error("Redis at {url} has maxmemory-policy {policy}, which may evict the cluster's leases, fences and streams (split brain, lost events): a cluster needs maxmemory-policy noeviction")]
    EvictingPolicy { url: String, policy: String },
    #[error("Redis at {url} tells neither CONFIG GET maxmemory-policy nor INFO memory's maxmemory_policy: a cluster needs maxmemory-policy noeviction and cannot check it")]
    PolicyUnknown { url: String },
}

impl ClusterError {
    /// Whether the URL itself is wrong (credentials Redis refuses, settings
    /// the client cannot use): the config's to fix, where a Redis that
    /// cannot be reached, or answers wrongly, is the operator's.
    pub fn is_config_mistake(&self) -> bool {
        let ClusterError::Redis { source, .. } = self else {
            return false;
        };
        matches!(
            source.kind(),
            redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
        ) || matches!(source.code(), Some("NOAUTH" | "WRONGPASS"))
    }
}
