//! The `cluster` section: several processes serving one service through
//! one Redis (docs/CLUSTER.md).
//!
//! `{"redis_url": "redis://...", "partitions": 64, "lease_ms": 3000}`, or
//! `run --cluster URL`, which sets (or replaces) the URL. Every process
//! started with the same service and the same settings joins the same
//! cluster, so `partitions` must agree between nodes; the namespace of
//! the keys is the service id. What else a config needs to run as a
//! cluster (service mode, a service id, Redis stores) is [`refusal`]'s.

use super::{ranges, Config, ConfigError, Mode, Secret};
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

/// The variable `run` and `cluster status` read the cluster's URL from
/// when `--cluster` is not given: a password on the command line is in
/// every local user's process list (`/proc/PID/cmdline`), the environment
/// is not.
pub const URL_ENV: &str = "MOOBIUS_CLUSTER_URL";

/// The keys `cluster` may hold.
pub const KEYS: &[&str] = &["redis_url", "partitions", "lease_ms"];

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// May hold a password: shown only through [`super::shown_url`].
    pub redis_url: Secret,
    pub partitions: usize,
    pub lease: Duration,
}

impl ClusterConfig {
    /// The defaults, with `redis_url`.
    pub fn with_url(redis_url: &str) -> Self {
        ClusterConfig {
            redis_url: Secret::new(redis_url.to_string()),
            partitions: ranges::DEFAULT_CLUSTER_PARTITIONS,
            lease: Duration::from_millis(ranges::DEFAULT_CLUSTER_LEASE_MS),
        }
    }

    /// The URL as logs and errors may show it.
    pub fn shown_url(&self) -> String {
        super::shown_url(self.redis_url.expose())
    }
}

/// Reads `cluster` from the top level of `file`; `None` when absent.
/// Unknown keys are errors: a misspelt `lease_ms` in a cluster is worth
/// stopping for.
pub fn parse(file: &Path, value: Option<&Value>) -> Result<Option<ClusterConfig>, ConfigError> {
    let map: &Map<String, Value> = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ConfigError::new(
                file,
                "cluster",
                "expected an object ({\"redis_url\": \"redis://127.0.0.1:6379\"})",
            ))
        }
    };
    let err = |key: &str, why: String| ConfigError::new(file, format!("cluster.{key}"), why);
    if let Some(k) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        let hint = crate::suggest::did_you_mean(k, KEYS.iter().copied());
        return Err(err(k, format!("unknown key{hint}")));
    }
    let url = match map.get("redis_url") {
        Some(Value::String(u)) if !u.trim().is_empty() => u.trim().to_string(),
        _ => return Err(err("redis_url", "missing (a redis:// URL)".into())),
    };
    let mut config = ClusterConfig::with_url(&url);
    check_url(&config).map_err(|why| err("redis_url", why))?;
    let number = |range: &ranges::Range| {
        range
            .check(map.get(range.key))
            .map_err(|why| err(range.key, why))
    };
    if let Some(n) = number(&ranges::CLUSTER_PARTITIONS)? {
        config.partitions = n as usize;
    }
    if let Some(ms) = number(&ranges::CLUSTER_LEASE_MS)? {
        config.lease = Duration::from_millis(ms as u64);
    }
    Ok(Some(config))
}

/// A URL the Redis client accepts; the reason otherwise (without the
/// password).
pub fn check_url(config: &ClusterConfig) -> Result<(), crate::Reason> {
    match ::redis::Client::open(config.redis_url.expose()) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("not a Redis URL ({e}): {:?}", config.shown_url())),
    }
}

/// Why a config cannot run as a cluster member; `None` when it can.
pub fn refusal(config: &Config) -> Option<ConfigError> {
    let err = |key: &str, why: String| Some(ConfigError::new(&config.source, key, why));
    if config.service.mode == Mode::User {
        return err(
            "cluster",
            "user mode (service_mode: false) cannot run as a cluster".into(),
        );
    }
    if config.service.service_id.is_none() {
        return err(
            "service_config.service_id",
            "a cluster needs the service id in the config (every node must serve the same service): run once without the cluster to create it, or set it".into(),
        );
    }
    for spec in &config.db_config.stores {
        if !matches!(
            spec.implementation,
            crate::store::Implementation::Redis { .. }
        ) {
            return err(
                &format!("db_config.{}", spec.name),
                format!(
                    "{} store cannot serve a cluster (each node would keep its own copy): use \"implementation\": \"redis\"",
                    with_article(spec.implementation.label())
                ),
            );
        }
    }
    None
}

/// "an embedded", "a memory".
fn with_article(word: &str) -> String {
    let vowel = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_store_kind_takes_its_article() {
        assert_eq!(with_article("embedded"), "an embedded");
        assert_eq!(with_article("memory"), "a memory");
    }

    fn parsed(v: Value) -> Result<Option<ClusterConfig>, String> {
        parse(Path::new("config.json"), Some(&v)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_fill_in_around_the_url() {
        let c = parsed(json!({"redis_url": "redis://127.0.0.1:6390"}))
            .unwrap()
            .unwrap();
        assert_eq!((c.partitions, c.lease), (64, Duration::from_millis(3000)));
        let c = parsed(json!({"redis_url": "redis://h", "partitions": 8, "lease_ms": 900}))
            .unwrap()
            .unwrap();
        assert_eq!((c.partitions, c.lease), (8, Duration::from_millis(900)));
    }

    #[test]
    fn mistakes_are_one_line_naming_the_key() {
        let e = parsed(json!({"redis_url": "redis://h", "lease_sm": 900})).unwrap_err();
        assert!(e.contains("cluster.lease_sm: unknown key"), "{e}");
        assert!(e.contains("lease_ms"), "{e}");
        let e = parsed(json!({"partitions": 8})).unwrap_err();
        assert!(e.contains("cluster.redis_url: missing"), "{e}");
        let e = parsed(json!({"redis_url": "redis://h", "lease_ms": 10})).unwrap_err();
        assert!(e.contains("cluster.lease_ms"), "{e}");
        let e = parsed(json!({"redis_url": "http://user:hunter2@h"})).unwrap_err();
        assert!(e.contains("not a Redis URL"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
