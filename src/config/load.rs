//! Reading and checking the config tree.

use super::keys;
use super::ranges::{self, Range};
use super::*;
use serde_json::{Map, Value};
use std::path::Path;

/// `MOOBIUS_EMAIL` / `MOOBIUS_PASSWORD`, which win over the file so that
/// credentials can stay out of the service directory.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub email: Option<String>,
    pub password: Option<Secret>,
}

impl Overrides {
    /// For a command that never signs in (`cluster status`): the account
    /// is not required, and what the file holds there is not taken.
    pub fn no_account() -> Self {
        Overrides {
            email: Some(String::new()),
            password: Some(Secret::new(String::new())),
        }
    }

    pub fn from_env() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Overrides {
            email: get("MOOBIUS_EMAIL"),
            password: get("MOOBIUS_PASSWORD").map(Secret::new),
        }
    }
}

/// One section of the config, with where it came from (for messages and for
/// writing the service id back).
struct Section {
    file: PathBuf,
    /// Key prefix inside `file`: `service_config.` when inline, empty when the
    /// section is a file of its own.
    prefix: String,
    map: Map<String, Value>,
    own_file: bool,
}

impl Section {
    fn err(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.file, format!("{}{key}", self.prefix), reason)
    }

    /// A warning for each key not in `known`.
    fn unknown_keys(&self, known: &[&str]) -> Vec<String> {
        keys::unknown(&self.file, &self.prefix, self.map.keys(), known)
    }

    /// The number at `range.key`, checked against its range (`None`: absent).
    fn number(&self, range: &Range) -> Result<Option<f64>, ConfigError> {
        range
            .check(self.map.get(range.key))
            .map_err(|why| self.err(range.key, why))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(key, "expected a string")),
        }
    }
}

/// Loads `config_file`; relative section paths resolve against `base_dir`.
pub fn load(
    config_file: &Path,
    base_dir: &Path,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let root = read_json(config_file, config_file, "")?;
    let Value::Object(root) = root else {
        return Err(ConfigError::new(
            config_file,
            "(top level)",
            "expected a JSON object",
        ));
    };
    let section = |name: &str| section(config_file, base_dir, &root, name);
    let account = section("account_config")?;
    let service = section("service_config")?;
    let log = section("log_config")?;
    let limits = section("script_limits")?;

    let service_id_target = if service.own_file {
        ServiceIdTarget::TopLevel(service.file.clone())
    } else {
        ServiceIdTarget::Nested(config_file.to_path_buf())
    };
    let mut warnings = Vec::new();
    if overrides.password.is_none()
        && account.map.contains_key("password")
        && readable_by_others(&account.file)
    {
        warnings.push(format!(
            "{} holds a password and every user of this machine can read it: `chmod 600` it, or use MOOBIUS_PASSWORD",
            account.file.display()
        ));
    }
    warnings.extend(keys::unknown(config_file, "", root.keys(), keys::TOP_LEVEL));
    warnings.extend(account.unknown_keys(keys::ACCOUNT));
    warnings.extend(service.unknown_keys(&keys::service()));
    warnings.extend(log.unknown_keys(keys::LOG));
    let cap_given = service.map.contains_key(ranges::REQUEST_MAX_BYTES.key);
    let mut service = service_config(&service)?;
    let script_limits = script_limits(&limits)?;
    let lowered = body_cap_within_strings(&mut service.requests, &script_limits);
    // The default cap is lowered without a word; a cap the author gave is worth one.
    warnings.extend(lowered.filter(|_| cap_given));
    Ok(Config {
        account: account_config(&account, overrides)?,
        service,
        log: log_config(&log, base_dir)?,
        script_limits,
        db_config: crate::store::parse_db_config(config_file, base_dir, root.get("db_config"))?,
        cluster: super::cluster::parse(config_file, root.get("cluster"))?,
        deploy: super::deploy::parse(config_file, root.get("deploy"))?,
        service_id_target,
        source: config_file.to_path_buf(),
        warnings,
    })
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}

/// Reads a config file; anything but a regular file (a FIFO would block the
/// start for ever) is refused before it is opened.
fn read_json(path: &Path, named_in: &Path, key: &str) -> Result<Value, ConfigError> {
    let text = crate::fsutil::read_regular(path).map_err(|e| {
        if path == named_in {
            ConfigError::new(path, "(file)", format!("cannot read: {e}"))
        } else {
            ConfigError::new(
                named_in,
                key,
                format!("cannot read {}: {e}", path.display()),
            )
        }
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ConfigError::new(path, "(file)", format!("not valid JSON: {e}")))
}

fn section(
    config_file: &Path,
    base_dir: &Path,
    root: &Map<String, Value>,
    name: &str,
) -> Result<Section, ConfigError> {
    match root.get(name) {
        None | Some(Value::Null) => Ok(Section {
            file: config_file.to_path_buf(),
            prefix: format!("{name}."),
            map: Map::new(),
            own_file: false,
        }),
        Some(Value::Object(map)) => Ok(Section {
            file: config_file.to_path_buf(),
            prefix: format!("{name}."),
            map: map.clone(),
            own_file: false,
        }),
        Some(Value::String(rel)) if rel.trim().ends_with(".json") => {
            let path = base_dir.join(rel.trim());
            match read_json(&path, config_file, name)? {
                Value::Object(map) => Ok(Section {
                    file: path,
                    prefix: String::new(),
                    map,
                    own_file: true,
                }),
                _ => Err(ConfigError::new(
                    &path,
                    "(top level)",
                    "expected a JSON object",
                )),
            }
        }
        Some(_) => Err(ConfigError::new(
            config_file,
            name,
            "expected an object or a path to a .json file",
        )),
    }
}

fn account_config(s: &Section, o: &Overrides) -> Result<AccountConfig, ConfigError> {
    let email = match (&o.email, s.string("email")?) {
        (Some(e), _) => e.clone(),
        (None, Some(e)) if !e.trim().is_empty() => e.trim().to_string(),
        _ => return Err(s.err("email", "missing (set it here or in MOOBIUS_EMAIL)")),
    };
    let password = match (&o.password, s.string("password")?) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) if !p.is_empty() => Secret::new(p),
        _ => return Err(s.err("password", "missing (set it here or in MOOBIUS_PASSWORD)")),
    };
    Ok(AccountConfig { email, password })
}

fn service_config(s: &Section) -> Result<ServiceConfig, ConfigError> {
    let uri = |key: &str, default: &str, schemes: &[&str]| -> Result<String, ConfigError> {
        let value = s.string(key)?.unwrap_or_else(|| default.to_string());
        let value = value.trim().to_string();
        let parsed = reqwest::Url::parse(&value)
            .map_err(|e| s.err(key, format!("not a valid URL ({e}): {value:?}")))?;
        if !schemes.contains(&parsed.scheme()) {
            return Err(s.err(
                key,
                format!("URL scheme must be {}: {value:?}", schemes.join(" or ")),
            ));
        }
        if parsed.host_str().is_none() {
            return Err(s.err(key, format!("URL has no host: {value:?}")));
        }
        Ok(value)
    };
    let http_server_uri = uri(
        "http_server_uri",
        DEFAULT_HTTP_SERVER_URI,
        &["http", "https"],
    )?;
    let ws_server_uri = uri("ws_server_uri", DEFAULT_WS_SERVER_URI, &["ws", "wss"])?;
    let service_id = s
        .string("service_id")?
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let channels = channels(s)?;
    let others = others_policy(s)?;
    let checkin_interval = match s.number(&ranges::CHECKIN_INTERVAL)? {
        None => Some(Duration::from_secs_f64(
            ranges::DEFAULT_CHECKIN_INTERVAL_SECS,
        )),
        Some(0.0) => None,
        Some(n) => Some(Duration::from_secs_f64(n)),
    };
    let mode = match s.map.get("service_mode") {
        None | Some(Value::Null) | Some(Value::Bool(true)) => Mode::Service,
        Some(Value::Bool(false)) => Mode::User,
        Some(_) => return Err(s.err("service_mode", "expected true or false")),
    };
    let heartbeat = s.number(&ranges::HEARTBEAT_INTERVAL)?;
    let heartbeat_interval =
        Duration::from_secs_f64(heartbeat.unwrap_or(ranges::DEFAULT_HEARTBEAT_INTERVAL_SECS));
    let (reconnect_min, reconnect_max) = reconnect_bounds(s)?;
    let outgoing_queue_limit = s
        .number(&ranges::OUTGOING_QUEUE_LIMIT)?
        .map_or(ranges::DEFAULT_OUTGOING_QUEUE_LIMIT, |n| n as usize);
    let script_threads = script_threads(s, mode)?;
    let runtime_threads = runtime_threads(s, script_threads)?;
    Ok(ServiceConfig {
        http_server_uri,
        ws_server_uri,
        service_id,
        channels,
        others,
        checkin_interval,
        mode,
        heartbeat_interval,
        reconnect_min,
        reconnect_max,
        outgoing_queue_limit,
        script_threads,
        runtime_threads,
        requests: request_policy(s)?,
        admin: match s.string("admin")? {
            None => None,
            Some(a) if a.trim().is_empty() => None,
            Some(a) => Some(a.trim().parse().map_err(|_| {
                s.err(
                    "admin",
                    format!("{a:?} is not an address (expected \"127.0.0.1:9100\")"),
                )
            })?),
        },
        admin_public: match s.map.get("admin_public") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(s.err("admin_public", "expected true or false")),
        },
        trusted_keys: trusted_keys(s)?,
    })
}

/// `trusted_keys`: see [`crate::bundle::TrustedKeys::from_json`].
fn trusted_keys(s: &Section) -> Result<crate::bundle::TrustedKeys, ConfigError> {
    crate::bundle::TrustedKeys::from_json(s.map.get("trusted_keys")).map_err(|(at, why)| {
        let key = at.map_or("trusted_keys".to_string(), |i| format!("trusted_keys[{i}]"));
        s.err(&key, why)
    })
}

/// `script_threads`: a number, or `"auto"` for the machine's cores (at
/// most the range's maximum). User mode has one member's events: one thread.
fn script_threads(s: &Section, mode: Mode) -> Result<usize, ConfigError> {
    let key = ranges::SCRIPT_THREADS.key;
    let n = threads(s, &ranges::SCRIPT_THREADS)?.unwrap_or(ranges::DEFAULT_SCRIPT_THREADS);
    if n > 1 && mode == Mode::User {
        return Err(s.err(
            key,
            "user mode (service_mode: false) runs on one script thread",
        ));
    }
    Ok(n)
}

/// `runtime_threads`: a number, or `"auto"`; by default
/// [`ranges::default_runtime_threads`] of the script threads.
fn runtime_threads(s: &Section, script_threads: usize) -> Result<usize, ConfigError> {
    Ok(threads(s, &ranges::RUNTIME_THREADS)?
        .unwrap_or_else(|| ranges::default_runtime_threads(script_threads)))
}

/// A count of threads: a number in `range`, or `"auto"` for the machine's
/// cores (at most the range's maximum); `None` when not given.
fn threads(s: &Section, range: &ranges::Range) -> Result<Option<usize>, ConfigError> {
    match s.map.get(range.key) {
        Some(Value::String(a)) if a == "auto" => Ok(Some(ranges::cores().min(range.max as usize))),
        Some(v @ Value::String(_)) => Err(s.err(
            range.key,
            format!(
                "{} is not \"auto\" (expected \"auto\" or {})",
                ranges::shown(v),
                range.expected()
            ),
        )),
        _ => Ok(s.number(range)?.map(|n| n as usize)),
    }
}

fn channels(s: &Section) -> Result<Vec<String>, ConfigError> {
    let wrong = || s.err("channels", "expected a list of channel id strings");
    match s.map.get("channels") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
                _ => Err(wrong()),
            })
            .collect(),
        Some(_) => Err(wrong()),
    }
}

fn others_policy(s: &Section) -> Result<OthersPolicy, ConfigError> {
    let value = s.string("others")?.map(|v| v.trim().to_lowercase());
    match value.as_deref() {
        None | Some("include") => Ok(OthersPolicy::Include),
        Some("ignore") => Ok(OthersPolicy::Ignore),
        Some("unbind") => Ok(OthersPolicy::Unbind),
        Some(other) => Err(s.err(
            "others",
            format!("unknown policy {other:?} (expected include, ignore or unbind)"),
        )),
    }
}

/// `reconnect_min_ms` and `reconnect_max_ms`, each in range, max >= min.
fn reconnect_bounds(s: &Section) -> Result<(Duration, Duration), ConfigError> {
    let min = s.number(&ranges::RECONNECT_MIN_MS)?;
    let max = s.number(&ranges::RECONNECT_MAX_MS)?;
    let min_ms = min.map_or(ranges::DEFAULT_RECONNECT_MIN_MS, |n| n as u64);
    let max_ms = max.map_or(ranges::DEFAULT_RECONNECT_MAX_MS, |n| n as u64);
    if max_ms < min_ms {
        let which = if max.is_some() { "" } else { " (the default)" };
        return Err(s.err(
            "reconnect_max_ms",
            format!("{max_ms}{which} is below reconnect_min_ms ({min_ms})"),
        ));
    }
    Ok((Duration::from_millis(min_ms), Duration::from_millis(max_ms)))
}

#[path = "load_logs.rs"]
mod logs;
use logs::log_config;
#[path = "load_limits.rs"]
mod limits;
use limits::{body_cap_within_strings, request_policy, script_limits};

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
