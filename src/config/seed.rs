//! Pointing a service directory's config at a fresh sandbox
//! (`moobius-host sandbox --service DIR`).
//!
//! A sandbox keeps nothing across restarts, so a config that served one names
//! a service and channels the next one never heard of. Seeding rewrites what
//! depends on the sandbox (its URLs, the channel, an empty `service_id` so
//! that `run` creates the service) in whichever file holds each section, and
//! fills in an account only where the config has none (the sandbox signs up
//! any email on its first sign-in).

use super::ConfigError;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// What a sandbox gives a service directory.
#[derive(Debug, Clone)]
pub struct SandboxSeed {
    pub http_server_uri: String,
    pub ws_server_uri: String,
    pub channel_id: String,
    /// Used only where the config names no email.
    pub email: String,
    /// Used only where the config names no password.
    pub password: String,
}

/// What seeding changed.
#[derive(Debug, Default)]
pub struct Seeded {
    /// The files rewritten, in order.
    pub files: Vec<PathBuf>,
    /// The account's email or password was filled in.
    pub account_filled: bool,
}

/// Rewrites `config_file` (and the section files it names, resolved against
/// `base_dir`) to point at the sandbox `seed` describes.
pub fn seed_for_sandbox(
    config_file: &Path,
    base_dir: &Path,
    seed: &SandboxSeed,
) -> Result<Seeded, ConfigError> {
    let mut root = read_object(config_file)?;
    let mut seeded = Seeded::default();
    let mut own_files = Vec::new();
    for name in ["service_config", "account_config"] {
        let fill = |map: &mut Map<String, Value>| match name {
            "service_config" => {
                seed_service(map, seed);
                false
            }
            _ => seed_account(map, seed),
        };
        match root.get_mut(name) {
            Some(Value::String(rel)) => {
                let path = base_dir.join(rel.trim());
                let mut section = read_object(&path)?;
                let filled = fill(&mut section);
                own_files.push((path, section, filled));
            }
            Some(Value::Object(map)) => seeded.account_filled |= fill(map),
            _ => {
                let mut map = Map::new();
                seeded.account_filled |= fill(&mut map);
                root.insert(name.to_string(), Value::Object(map));
            }
        }
    }
    let root_private = seeded.account_filled;
    for (path, section, filled) in own_files {
        write_object(&path, &section, filled)?;
        seeded.account_filled |= filled;
        seeded.files.push(path);
    }
    write_object(config_file, &root, root_private)?;
    seeded.files.insert(0, config_file.to_path_buf());
    Ok(seeded)
}

fn seed_service(map: &mut Map<String, Value>, seed: &SandboxSeed) {
    let set = |map: &mut Map<String, Value>, key: &str, value: Value| {
        map.insert(key.to_string(), value);
    };
    set(map, "http_server_uri", seed.http_server_uri.clone().into());
    set(map, "ws_server_uri", seed.ws_server_uri.clone().into());
    set(map, "service_id", "".into());
    set(
        map,
        "channels",
        vec![Value::from(seed.channel_id.clone())].into(),
    );
}

/// Fills in an empty email or password; true when it did.
fn seed_account(map: &mut Map<String, Value>, seed: &SandboxSeed) -> bool {
    let mut filled = false;
    for (key, value) in [("email", &seed.email), ("password", &seed.password)] {
        let empty = map
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty());
        if empty {
            map.insert(key.to_string(), Value::from(value.clone()));
            filled = true;
        }
    }
    filled
}

fn read_object(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let text = crate::fsutil::read_regular(path)
        .map_err(|e| ConfigError::new(path, "(file)", format!("cannot read: {e}")))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConfigError::new(
            path,
            "(top level)",
            "expected a JSON object",
        )),
        Err(e) => Err(ConfigError::new(
            path,
            "(file)",
            format!("not valid JSON: {e}"),
        )),
    }
}

/// Replaces `path` with `map` (2-space indented), keeping its mode, or
/// making it readable by its owner only when it now holds a password the
/// seed wrote.
fn write_object(path: &Path, map: &Map<String, Value>, private: bool) -> Result<(), ConfigError> {
    let err = |e: String| ConfigError::new(path, "(file)", e);
    let mut out = serde_json::to_string_pretty(map).map_err(|e| err(e.to_string()))?;
    out.push('\n');
    crate::fsutil::replace_file(path, out.as_bytes(), 0o600)
        .map_err(|e| err(format!("cannot write: {e}")))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(format!("cannot make it private: {e}")))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> SandboxSeed {
        SandboxSeed {
            http_server_uri: "http://127.0.0.1:1/".into(),
            ws_server_uri: "ws://127.0.0.1:1/ws".into(),
            channel_id: "ch-1".into(),
            email: "svc@sandbox.local".into(),
            password: "pw-new".into(),
        }
    }

    #[test]
    fn rewrites_inline_sections_and_keeps_a_given_account() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"account_config":{"email":"me@x","password":"pw"},
                "service_config":{"service_id":"stale","channels":["old"],"others":"include"},
                "db_config":[]}"#,
        )
        .unwrap();
        let seeded = seed_for_sandbox(&cfg, d.path(), &seed()).unwrap();
        assert!(!seeded.account_filled);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        assert_eq!(v["service_config"]["service_id"], "");
        assert_eq!(v["service_config"]["channels"], serde_json::json!(["ch-1"]));
        assert_eq!(v["service_config"]["others"], "include");
        assert_eq!(v["service_config"]["ws_server_uri"], "ws://127.0.0.1:1/ws");
        assert_eq!(v["account_config"]["email"], "me@x");
        assert_eq!(v["account_config"]["password"], "pw");
        assert_eq!(v["db_config"], serde_json::json!([]));
    }

    #[cfg(unix)]
    #[test]
    fn fills_an_empty_account_in_a_section_file_and_makes_it_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("config.json");
        let account = d.path().join("account.json");
        std::fs::write(&cfg, r#"{"account_config":"account.json"}"#).unwrap();
        std::fs::write(&account, r#"{"email":"","password":""}"#).unwrap();
        std::fs::set_permissions(&account, std::fs::Permissions::from_mode(0o644)).unwrap();
        let seeded = seed_for_sandbox(&cfg, d.path(), &seed()).unwrap();
        assert!(seeded.account_filled);
        assert_eq!(seeded.files, vec![cfg.clone(), account.clone()]);
        let a: Value = serde_json::from_str(&std::fs::read_to_string(&account).unwrap()).unwrap();
        assert_eq!(a["email"], "svc@sandbox.local");
        assert_eq!(a["password"], "pw-new");
        let mode = std::fs::metadata(&account).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        assert_eq!(v["service_config"]["channels"], serde_json::json!(["ch-1"]));
    }
}
