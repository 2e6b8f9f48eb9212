//! Reading `db_config`: an inline list or a path to a `.json` file holding
//! one, like the other sections. Checked up front so that a typo is one line
//! naming the file and key (exit 2), not a failure at the first write.

use super::{Implementation, StoreConfig, StoreSpec, DEFAULT_REDIS_URL};
use crate::config::ConfigError;
use serde_json::{Map, Value};
use std::path::Path;

const KEYS: &[&str] = &[
    "name",
    "implementation",
    "load",
    "clear",
    "redis_url",
    "namespace",
];

/// Parses `db_config` (`value` is the key's value in `config_file`, if any);
/// relative paths resolve against `base_dir`, where `data/` also lives.
pub fn parse_db_config(
    config_file: &Path,
    base_dir: &Path,
    value: Option<&Value>,
) -> Result<StoreConfig, ConfigError> {
    let (file, prefix, list) = match value {
        None | Some(Value::Null) => (config_file.to_path_buf(), "db_config", Vec::new()),
        Some(Value::Array(items)) => (config_file.to_path_buf(), "db_config", items.clone()),
        Some(Value::String(rel)) if rel.trim().ends_with(".json") => {
            let path = base_dir.join(rel.trim());
            let text = crate::fsutil::read_regular(&path).map_err(|e| {
                ConfigError::new(
                    config_file,
                    "db_config",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            match serde_json::from_str(&text) {
                Ok(Value::Array(items)) => (path, "", items),
                Ok(_) => {
                    return Err(ConfigError::new(
                        &path,
                        "(top level)",
                        "expected a JSON list of stores",
                    ))
                }
                Err(e) => {
                    return Err(ConfigError::new(
                        &path,
                        "(file)",
                        format!("not valid JSON: {e}"),
                    ))
                }
            }
        }
        Some(_) => {
            return Err(ConfigError::new(
                config_file,
                "db_config",
                "expected a list of stores or a path to a .json file",
            ))
        }
    };
    let mut stores: Vec<StoreSpec> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("{prefix}[{i}]");
        let err = |key: &str, reason: String| {
            let key = if key.is_empty() {
                at.clone()
            } else {
                format!("{at}.{key}")
            };
            ConfigError::new(&file, key, reason)
        };
        let Value::Object(map) = item else {
            return Err(err("", "expected an object".into()));
        };
        let spec = store_spec(map).map_err(|(key, reason)| err(key, reason))?;
        if stores.iter().any(|s| s.name == spec.name) {
            return Err(err("name", format!("{:?} is configured twice", spec.name)));
        }
        stores.push(spec);
    }
    Ok(StoreConfig {
        stores,
        data_dir: base_dir.join("data"),
        implicit_memory: false,
        implicit_embedded: true,
    })
}

type Problem = (&'static str, String);

fn store_spec(map: &Map<String, Value>) -> Result<StoreSpec, Problem> {
    for key in map.keys() {
        if !KEYS.contains(&key.as_str()) {
            let hint = crate::suggest::did_you_mean(key, KEYS.iter().copied());
            return Err((
                "",
                format!("unknown key {key:?}{hint} (expected {})", KEYS.join(", ")),
            ));
        }
    }
    let string = |key: &'static str| -> Result<Option<String>, Problem> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err((key, "expected a string".into())),
        }
    };
    let flag = |key: &'static str, default: bool| -> Result<bool, Problem> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err((key, "expected true or false".into())),
        }
    };
    let name = string("name")?.unwrap_or_default();
    if !valid_name(&name) {
        return Err((
            "name",
            format!("{name:?} is not a store name (letters, digits, _ and -; 1 to 64 characters)"),
        ));
    }
    let kind = string("implementation")?.unwrap_or_else(|| "embedded".into());
    let redis_url = string("redis_url")?;
    let namespace = string("namespace")?;
    let implementation = implementation(&kind, redis_url.as_deref(), namespace.as_deref())?;
    if !matches!(implementation, Implementation::Redis { .. }) {
        if redis_url.is_some() {
            return Err(("redis_url", "only for the redis implementation".into()));
        }
        if namespace.is_some() {
            return Err(("namespace", "only for the redis implementation".into()));
        }
    }
    Ok(StoreSpec {
        name,
        implementation,
        load: flag("load", true)?,
        clear: flag("clear", false)?,
    })
}

/// The backend `kind` names, with its Redis options checked.
fn implementation(
    kind: &str,
    redis_url: Option<&str>,
    namespace: Option<&str>,
) -> Result<Implementation, Problem> {
    match kind.to_ascii_lowercase().as_str() {
        "embedded" => Ok(Implementation::Embedded),
        "memory" => Ok(Implementation::Memory),
        "redis" => {
            let url = redis_url.unwrap_or(DEFAULT_REDIS_URL).to_string();
            if let Err(e) = ::redis::Client::open(url.as_str()) {
                let shown = crate::config::shown_url(&url);
                return Err(("redis_url", format!("not a Redis URL ({e}): {shown:?}")));
            }
            if let Some(ns) = namespace {
                if ns.is_empty() || ns.contains(['*', '?', '[', ']', '\\']) {
                    return Err(("namespace", format!("{ns:?} is not a usable namespace")));
                }
            }
            Ok(Implementation::Redis {
                url,
                namespace: namespace.map(str::to_string),
            })
        }
        other => {
            let hint = match other {
                "json" | "jsondb" | "jsondatabase" => {
                    " (the SDK's json store is \"embedded\" here)"
                }
                "null" => " (use \"memory\" for a store that is not kept)",
                _ => "",
            };
            Err((
                "implementation",
                format!(
                    "unknown implementation {kind:?}: expected embedded, redis or memory{hint}"
                ),
            ))
        }
    }
}

/// Store names end up in Redis keys and redb table names: keep them plain.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<StoreConfig, String> {
        parse_db_config(Path::new("config/config.json"), Path::new("/svc"), Some(&v))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_kinds() {
        let c = parse(json!([
            {"name": "roles"},
            {"name": "scores", "implementation": "Redis", "load": false},
            {"name": "tmp", "implementation": "memory", "clear": true}
        ]))
        .unwrap();
        assert_eq!(c.data_dir, Path::new("/svc/data"));
        assert_eq!(c.stores[0].implementation, Implementation::Embedded);
        assert!(c.stores[0].load && !c.stores[0].clear);
        assert_eq!(
            c.stores[1].implementation,
            Implementation::Redis {
                url: DEFAULT_REDIS_URL.into(),
                namespace: None
            }
        );
        assert!(!c.stores[1].load);
        assert!(c.stores[2].clear);
        assert!(parse_db_config(Path::new("c.json"), Path::new("/"), None)
            .unwrap()
            .stores
            .is_empty());
    }

    #[test]
    fn errors_name_file_and_key() {
        let cases = [
            (
                json!([{"name": "a", "implementation": "json"}]),
                "config/config.json: db_config[0].implementation: unknown implementation \"json\"",
            ),
            (
                json!([{"name": "a", "colour": 1}]),
                "db_config[0]: unknown key \"colour\"",
            ),
            (
                json!([{"name": "a", "Clear": true}]),
                "db_config[0]: unknown key \"Clear\"; did you mean `clear`? (expected name,",
            ),
            (
                json!([{"name": "a"}, {"name": "a"}]),
                "db_config[1].name: \"a\" is configured twice",
            ),
            (
                json!([{"name": "a b"}]),
                "db_config[0].name: \"a b\" is not a store name",
            ),
            (
                json!([{"name": "a", "redis_url": "redis://x"}]),
                "db_config[0].redis_url: only for the redis",
            ),
            (
                json!([{"name": "a", "implementation": "redis", "redis_url": "http://x"}]),
                "db_config[0].redis_url: not a Redis URL",
            ),
            (
                json!([{"name": "a", "load": "yes"}]),
                "db_config[0].load: expected true or false",
            ),
            (json!({"name": "a"}), "db_config: expected a list"),
        ];
        for (v, expected) in cases {
            let msg = parse(v).unwrap_err();
            assert!(
                msg.contains(expected),
                "{msg:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn section_in_its_own_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("config")).unwrap();
        std::fs::write(
            d.path().join("config/db.json"),
            r#"[{"name": "roles", "implementation": "nope"}]"#,
        )
        .unwrap();
        let e = parse_db_config(
            &d.path().join("config/config.json"),
            d.path(),
            Some(&json!("config/db.json")),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("db.json: [0].implementation: unknown implementation"),
            "{e}"
        );
    }
}
