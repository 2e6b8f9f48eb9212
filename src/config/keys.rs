//! The keys the loader knows, and a warning for any other.
//!
//! A mistyped key used to be ignored silently: `heartbeat_intervl: 5` left
//! the default in place and nothing said so. An unknown key now gets a
//! warning naming the file and the key, with "did you mean" when a known key
//! is close; the service still starts, since a config in the SDK's shape may
//! carry keys of its own. Keys the Python SDK reads but the host has no use
//! for are known too, so that an SDK config starts without noise.
//! `script_limits` and `db_config` are the host's own: an unknown key there
//! is an error, with the same suggestion (see the loader and `store::config`).

use super::ranges;
use std::path::Path;

/// The sections of `config.json` (all of them the SDK's but `script_limits`).
pub const TOP_LEVEL: &[&str] = &[
    "account_config",
    "service_config",
    "log_config",
    "db_config",
    "script_limits",
    "cluster",
    "deploy",
];

pub const ACCOUNT: &[&str] = &["email", "password"];

/// `service_config`'s keys other than numbers (those are [`ranges::SERVICE`]),
/// and the SDK's `no_warn_cannot_save_service_id`, which the host does not need.
const SERVICE_OTHERS: &[&str] = &[
    "http_server_uri",
    "ws_server_uri",
    "service_id",
    "channels",
    "others",
    "service_mode",
    "http_allow",
    "admin",
    "admin_public",
    "trusted_keys",
    "no_warn_cannot_save_service_id",
];

/// `log_config`'s keys (`log_retention` as the SDK reads it, `log_format` the host's own).
pub const LOG: &[&str] = &[
    "log_level",
    "terminal_log_level",
    "error_log_level",
    "log_file",
    "error_log_file",
    "log_retention",
    "log_format",
];

/// Every key `service_config` may hold.
pub fn service() -> Vec<&'static str> {
    let numbers = ranges::SERVICE.iter().map(|r| r.key);
    SERVICE_OTHERS.iter().copied().chain(numbers).collect()
}

/// One warning per key of `keys` that `known` lacks:
/// `config.json: service_config.heartbeat_intervl: unknown key, ignored; did you mean `heartbeat_interval`?`
pub fn unknown<'k>(
    file: &Path,
    prefix: &str,
    keys: impl IntoIterator<Item = &'k String>,
    known: &[&str],
) -> Vec<String> {
    keys.into_iter()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            format!(
                "{}: {prefix}{}: unknown key, ignored{}",
                file.display(),
                k.escape_debug(),
                crate::suggest::did_you_mean(k, known.iter().copied())
            )
        })
        .collect()
}
