//! Running one service as several processes with Redis between them (see
//! `docs/CLUSTER.md` for the design and what is built so far).
//!
//! Nothing here is home-made distribution: who does what is decided by
//! leases in Redis ([`lease`]), each with a fencing token that only grows,
//! so that a process that lost its lease (paused, partitioned) can be told
//! apart from the one that holds it now.

pub mod lease;
pub mod partitions;

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
}
